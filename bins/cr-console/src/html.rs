//! Server-rendered pages: one layout, every value escaped, no script and no asset from
//! elsewhere (recorders run in closed networks; the CSP forbids both).

pub use cr_export::html_escape as esc;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1f24}\
header{background:#1b3a5c;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:center}\
header a{color:#fff}main{padding:1.2em}table{border-collapse:collapse}\
td,th{border-bottom:1px solid #ccd;padding:.3em .7em;text-align:left;vertical-align:top}\
.ok{color:#0a6b2d;font-weight:bold}.bad{color:#a1161b;font-weight:bold}.err{color:#a1161b}\
form.inline{display:inline}label{display:block;margin:.4em 0}";

/// Who is signed in, for the header (name, role), and their CSRF token for the sign-out form.
pub struct Viewer<'a> {
    /// Operator name.
    pub name: &'a str,
    /// Role name.
    pub role: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
}

/// A whole page.
pub fn page(title: &str, viewer: Option<&Viewer<'_>>, body: &str) -> String {
    let nav = match viewer {
        Some(v) => format!(
            "<a href=\"/search\">Search</a><a href=\"/export\">Export</a><a href=\"/holds\">Holds</a><a href=\"/requests\">Requests</a><a href=\"/audit\">Audit</a><a href=\"/status\">Status</a><a href=\"/operators\">Operators</a><span>{} ({})</span>\
             <form class=\"inline\" method=\"post\" action=\"/signout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" id=\"signout\">Sign out</button></form>",
            esc(v.name),
            esc(v.role),
            esc(v.csrf)
        ),
        None => String::new(),
    };
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — callrec</title>\
         <style>{STYLE}</style></head><body><header><strong>callrec</strong>{nav}</header><main>{body}</main></body></html>",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Guards against: a party number or set id from the journal breaking out of the markup.
    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(esc("<script>alert('x')</script>&\""), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
        let p = page("a<b", Some(&Viewer { name: "\"><img>", role: "auditor", csrf: "t" }), "");
        assert!(!p.contains("<img>") && p.contains("a&lt;b"), "{p}");
    }
}
