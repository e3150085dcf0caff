//! A strict stand-in for the Microsoft identity platform and Graph, as far as the OneDrive
//! target uses them. It checks bearer tokens (which expire after a set number of uses),
//! `conflictBehavior=fail`, the Content-Range of every chunk (start = next expected byte,
//! length = body, multiples of 320 KiB except the last), refuses an Authorization header on
//! upload URLs, answers 409 when a name exists, and reports `nextExpectedRanges`.
//! Deleting follows Graph's documented semantics: `DELETE` (by path or id) moves an item to
//! the drive's recycle bin and answers 204 without a body, `POST /items/{id}/permanentDelete`
//! removes it for good (204), either answers 404 for an item that is not there, and deleting
//! a folder takes everything below it. Item ids are opaque (no path characters).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{Value, json};
use tiny_http::{Header, Response, Server};

pub const TENANT: &str = "contoso.onmicrosoft.com";
pub const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
pub const SECRET: &str = "app-secret-1";
pub const USER: &str = "recorder@contoso.example";
const UNIT: usize = 320 * 1024;

#[derive(Default)]
pub struct State {
    /// Files by path ("a/b/c.wav").
    pub files: HashMap<String, Vec<u8>>,
    /// Valid tokens and their remaining uses.
    pub tokens: HashMap<String, u32>,
    /// Uses each new token gets.
    pub token_uses: u32,
    pub token_requests: u32,
    pub refused_expired: u32,
    /// Upload sessions: id -> (path, total, received bytes).
    pub sessions: HashMap<String, (String, u64, Vec<u8>)>,
    pub sessions_made: u32,
    /// Answer 500 (after accepting the data) to the n-th chunk PUT overall.
    pub fail_chunk: Option<u32>,
    pub chunks: u32,
    pub chunk_bytes: u64,
    /// Delegated sign-in: the current valid refresh token.
    pub refresh_token: String,
    pub protocol_errors: Vec<String>,
    pub with_sha256: bool,
    /// Report no hashes at all (the client must read files back to compare).
    pub no_hashes: bool,
    pub downloads: u32,
    /// Damage the next file that completes (one flipped bit), as a faulty store would.
    pub corrupt_next: bool,
    /// What `DELETE` moved to the recycle bin, by path (restorable on a real drive).
    pub recycled: HashMap<String, Vec<u8>>,
    /// Every request that reached the stand-in.
    pub requests: u32,
    /// Answer `permanentDelete` with 204 but keep the item (a store that lies).
    pub keep_deleted: bool,
}

pub struct Fake {
    pub url: String,
    pub state: Arc<Mutex<State>>,
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

type Resp = Response<std::io::Cursor<Vec<u8>>>;

fn js(code: u16, v: Value) -> Resp {
    Response::from_string(v.to_string())
        .with_status_code(code)
        .with_header(Header::from_bytes("Content-Type", "application/json").unwrap())
}

/// QuickXorHash, written bit by bit (independent of the product's word-wise version): bit j
/// of byte i goes to bit (11 i + j) mod 160; the length is XORed into bytes 12..20.
fn quick_xor(data: &[u8]) -> String {
    use base64::Engine as _;
    let mut bits = [false; 160];
    for (i, b) in data.iter().enumerate() {
        for j in 0..8 {
            if b >> j & 1 == 1 {
                let pos = (11 * (i % 160) + j) % 160;
                bits[pos] = !bits[pos];
            }
        }
    }
    let mut out = [0u8; 20];
    for (k, bit) in bits.iter().enumerate() {
        if *bit {
            out[k / 8] |= 1 << (k % 8);
        }
    }
    for (o, l) in out[12..].iter_mut().zip((data.len() as u64).to_le_bytes()) {
        *o ^= l;
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// An opaque item id (Graph's look like `01BYE5RZ...`), derived from the path.
fn item_id(path: &str) -> String {
    format!("01{}", hex::encode_upper(path))
}

fn id_path(id: &str) -> Option<String> {
    id.strip_prefix("01").and_then(|h| hex::decode(h).ok()).and_then(|b| String::from_utf8(b).ok())
}

fn no_content() -> Resp {
    Response::from_data(Vec::new()).with_status_code(204)
}

fn not_found() -> Resp {
    js(404, json!({"error": {"code": "itemNotFound", "message": "The resource could not be found."}}))
}

/// Removes the file at `path`, or the folder at `path` with everything below it; the paths
/// and contents removed (none when nothing is there).
fn take_item(st: &mut State, path: &str) -> Vec<(String, Vec<u8>)> {
    if let Some(d) = st.files.remove(path) {
        return vec![(path.to_owned(), d)];
    }
    let below = format!("{path}/");
    let keys: Vec<String> = st.files.keys().filter(|k| k.starts_with(&below)).cloned().collect();
    keys.into_iter().map(|k| { let d = st.files.remove(&k).unwrap(); (k, d) }).collect()
}

/// Graph's `DELETE`: the item (a folder with what is below it) goes to the recycle bin,
/// restorable, not gone; 204 without a body, 404 when nothing is there.
fn recycle(st: &mut State, path: &str) -> Resp {
    let gone = take_item(st, path);
    if gone.is_empty() {
        return not_found();
    }
    st.recycled.extend(gone);
    no_content()
}

/// The folder item at `path`, when some file lies below it.
fn folder(st: &State, path: &str) -> Option<Value> {
    let below = format!("{path}/");
    let n = st.files.keys().filter(|k| k.starts_with(&below)).count();
    let name = path.rsplit('/').next().unwrap_or(path);
    (n > 0).then(|| json!({"id": item_id(path), "name": name, "folder": {"childCount": n}}))
}

fn item(path: &str, data: &[u8], sha: bool) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    if NO_HASHES.with(|c| c.get()) {
        return json!({"id": item_id(path), "name": name, "size": data.len(), "file": {}});
    }
    let mut hashes = json!({"quickXorHash": quick_xor(data)});
    if sha {
        use sha2::Digest;
        hashes["sha256Hash"] = json!(hex::encode_upper(sha2::Sha256::digest(data)));
    }
    json!({"id": item_id(path), "name": name, "size": data.len(), "file": {"hashes": hashes}})
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let d = |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
            (d(k), d(v))
        })
        .collect()
}

impl Fake {
    pub fn start(token_uses: u32) -> Fake {
        let server = Arc::new(Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", server.server_addr().to_ip().unwrap());
        let state = Arc::new(Mutex::new(State { token_uses, refresh_token: "rt-0".into(), ..Default::default() }));
        let (s2, st2, base) = (server.clone(), state.clone(), url.clone());
        let thread = std::thread::spawn(move || {
            for mut req in s2.incoming_requests() {
                let mut body = Vec::new();
                let _ = req.as_reader().read_to_end(&mut body);
                let resp = handle(&st2, &base, &req, body);
                let _ = req.respond(resp);
            }
        });
        Fake { url, state, server, thread: Some(thread) }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }
}

fn header<'a>(req: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    req.headers().iter().find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
}

thread_local! {
    static NO_HASHES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn handle(state: &Mutex<State>, base: &str, req: &tiny_http::Request, body: Vec<u8>) -> Resp {
    let mut st = state.lock().unwrap();
    st.requests += 1;
    NO_HASHES.with(|c| c.set(st.no_hashes));
    let url = req.url().to_owned();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let method = req.method().as_str().to_owned();

    // --- identity platform
    if path == format!("/{TENANT}/oauth2/v2.0/token") && method == "POST" {
        st.token_requests += 1;
        let f = form(&String::from_utf8_lossy(&body));
        let ok = match f.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {
                f.get("client_id").map(String::as_str) == Some(CLIENT)
                    && f.get("client_secret").map(String::as_str) == Some(SECRET)
                    && f.get("scope").map(String::as_str) == Some("https://graph.microsoft.com/.default")
            }
            Some("refresh_token") => {
                f.get("refresh_token") == Some(&st.refresh_token) && f.get("client_id").map(String::as_str) == Some(CLIENT)
            }
            Some("authorization_code") => {
                f.get("code").map(String::as_str) == Some("the-code") && f.contains_key("redirect_uri")
            }
            _ => false,
        };
        if !ok {
            return js(
                401,
                json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}),
            );
        }
        let tok = format!("tok-{}", st.token_requests);
        let uses = st.token_uses;
        st.tokens.insert(tok.clone(), uses);
        let mut v = json!({"token_type": "Bearer", "expires_in": 3599, "access_token": tok});
        if f.get("grant_type").map(String::as_str) != Some("client_credentials") {
            let rt = format!("rt-{}", st.token_requests);
            st.refresh_token = rt.clone();
            v["refresh_token"] = json!(rt);
        }
        return js(200, v);
    }

    // --- upload URLs: pre-authorized, must carry no Authorization header
    if let Some(sid) = path.strip_prefix("/upload/") {
        if header(req, "Authorization").is_some() {
            st.protocol_errors.push("Authorization header sent to an upload URL".into());
            return js(401, json!({"error": {"code": "unauthenticated", "message": "no auth on upload URLs"}}));
        }
        let sid = sid.to_owned();
        let Some((ipath, total, data)) = st.sessions.get(&sid).cloned() else {
            return js(404, json!({"error": {"code": "itemNotFound", "message": "upload session not found"}}));
        };
        if method == "GET" {
            return js(200, json!({"nextExpectedRanges": [format!("{}-", data.len())], "expirationDateTime": "2099-01-01T00:00:00Z"}));
        }
        let range = header(req, "Content-Range").unwrap_or("").to_owned();
        let parsed = range
            .strip_prefix("bytes ")
            .and_then(|r| r.split_once('/'))
            .and_then(|(ab, t)| ab.split_once('-').map(|(a, b)| (a.parse::<u64>(), b.parse::<u64>(), t.parse::<u64>())));
        let Some((Ok(a), Ok(b), Ok(t))) = parsed else {
            st.protocol_errors.push(format!("bad Content-Range {range:?}"));
            return js(400, json!({"error": {"code": "invalidRequest", "message": "bad Content-Range"}}));
        };
        let total = if total == u64::MAX { t } else { total };
        let len = body.len() as u64;
        let last = b + 1 == t;
        if t != total || a != data.len() as u64 || b + 1 < a || b + 1 - a != len || (!last && !(len as usize).is_multiple_of(UNIT)) {
            st.protocol_errors.push(format!("chunk {range} len {len} at {} of {total}", data.len()));
            return js(416, json!({"error": {"code": "invalidRange", "message": "range not expected"}}));
        }
        st.chunks += 1;
        st.chunk_bytes += len;
        let n = st.chunks;
        let sess = st.sessions.get_mut(&sid).expect("present");
        sess.1 = total;
        sess.2.extend_from_slice(&body);
        let done = sess.2.len() as u64 == total;
        if st.fail_chunk == Some(n) {
            return js(500, json!({"error": {"code": "generalException", "message": "try again"}}));
        }
        if done {
            let (_, _, data) = st.sessions.remove(&sid).expect("present");
            if st.files.contains_key(&ipath) {
                return js(409, json!({"error": {"code": "nameAlreadyExists", "message": "exists"}}));
            }
            let mut data = data;
            if std::mem::take(&mut st.corrupt_next) {
                data[0] ^= 1;
            }
            let v = item(&ipath, &data, st.with_sha256);
            st.files.insert(ipath, data);
            return js(201, v);
        }
        let next = st.sessions.get(&sid).map(|s| s.2.len()).unwrap_or(0);
        return js(202, json!({"nextExpectedRanges": [format!("{next}-")], "expirationDateTime": "2099-01-01T00:00:00Z"}));
    }

    // --- Graph: bearer token required
    let tok = header(req, "Authorization").and_then(|h| h.strip_prefix("Bearer ")).unwrap_or("").to_owned();
    match st.tokens.get_mut(&tok) {
        Some(n) if *n > 0 => *n -= 1,
        Some(_) => {
            st.refused_expired += 1;
            return js(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid."}}));
        }
        None => return js(401, json!({"error": {"code": "InvalidAuthenticationToken", "message": "Access token is empty."}})),
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned();
    let user_drive = format!("/v1.0/users/{USER}/drive");
    let Some(rest) = decoded.strip_prefix(&user_drive).or_else(|| decoded.strip_prefix("/v1.0/me/drive")) else {
        return js(404, json!({"error": {"code": "itemNotFound", "message": format!("no route {path}")}}));
    };
    if rest.is_empty() && method == "GET" {
        return js(200, json!({"id": "b!fake-drive", "driveType": "business", "owner": {"user": {"displayName": "Call Recorder"}}}));
    }
    if let Some(by_id) = rest.strip_prefix("/items/") {
        let (id, op) = by_id.split_once('/').unwrap_or((by_id, ""));
        let Some(ipath) = id_path(id) else { return not_found() };
        return match (method.as_str(), op) {
            ("POST", "permanentDelete") => {
                if st.keep_deleted && (st.files.contains_key(&ipath) || folder(&st, &ipath).is_some()) {
                    return no_content();
                }
                if take_item(&mut st, &ipath).is_empty() { not_found() } else { no_content() }
            }
            ("DELETE", "") => recycle(&mut st, &ipath),
            ("GET", "") => match st.files.get(&ipath) {
                Some(d) => js(200, item(&ipath, d, st.with_sha256)),
                None => folder(&st, &ipath).map(|v| js(200, v)).unwrap_or_else(not_found),
            },
            _ => js(400, json!({"error": {"code": "invalidRequest", "message": format!("unsupported {method} items/{op}")}})),
        };
    }
    let Some(rest) = rest.strip_prefix("/root:/") else {
        return js(400, json!({"error": {"code": "invalidRequest", "message": "unsupported"}}));
    };
    let Some((ipath, op)) = rest.split_once(':') else {
        return js(400, json!({"error": {"code": "invalidRequest", "message": "path must end with ':'"}}));
    };
    let (ipath, op) = (ipath.to_owned(), op.to_owned());
    let sha = st.with_sha256;
    match (method.as_str(), op.as_str()) {
        ("GET", "") => match st.files.get(&ipath) {
            Some(d) => js(200, item(&ipath, d, sha)),
            None => folder(&st, &ipath).map(|v| js(200, v)).unwrap_or_else(not_found),
        },
        ("GET", "/content") => match st.files.get(&ipath).cloned() {
            Some(d) => {
                st.downloads += 1;
                Response::from_data(d).with_status_code(200)
            }
            None => js(404, json!({"error": {"code": "itemNotFound", "message": "not found"}})),
        },
        ("PUT", "/content") => {
            if !query.contains("%40microsoft.graph.conflictBehavior=fail") && !query.contains("@microsoft.graph.conflictBehavior=fail") {
                st.protocol_errors.push(format!("simple upload without conflictBehavior=fail: {query}"));
                return js(400, json!({"error": {"code": "invalidRequest", "message": "this fake wants conflictBehavior=fail"}}));
            }
            if body.len() > 4 * 1024 * 1024 {
                st.protocol_errors.push("simple upload over 4 MiB".into());
                return js(413, json!({"error": {"code": "requestTooLarge", "message": "use an upload session"}}));
            }
            if st.files.contains_key(&ipath) {
                return js(409, json!({"error": {"code": "nameAlreadyExists", "message": "The specified item name already exists."}}));
            }
            let mut body = body;
            if std::mem::take(&mut st.corrupt_next) && !body.is_empty() {
                body[0] ^= 1;
            }
            let v = item(&ipath, &body, sha);
            st.files.insert(ipath, body);
            js(201, v)
        }
        ("DELETE", "") => recycle(&mut st, &ipath),
        ("POST", "/createUploadSession") => {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if v["item"]["@microsoft.graph.conflictBehavior"] != "fail" {
                st.protocol_errors.push(format!("upload session without conflictBehavior=fail: {v}"));
                return js(400, json!({"error": {"code": "invalidRequest", "message": "this fake wants conflictBehavior=fail"}}));
            }
            if st.files.contains_key(&ipath) {
                return js(409, json!({"error": {"code": "nameAlreadyExists", "message": "exists"}}));
            }
            st.sessions_made += 1;
            let sid = format!("s{}", st.sessions_made);
            st.sessions.insert(sid.clone(), (ipath, u64::MAX, Vec::new()));
            js(200, json!({"uploadUrl": format!("{base}/upload/{sid}"), "expirationDateTime": "2099-01-01T00:00:00Z", "nextExpectedRanges": ["0-"]}))
        }
        _ => js(400, json!({"error": {"code": "invalidRequest", "message": format!("unsupported {method} {op}")}})),
    }
}
