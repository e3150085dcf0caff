//! Search by party number, time range, configuration, user or group and flag, a page at a
//! time.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveDate, Utc};
use cr_journal::{AuditKind, JournalError, Role, SearchQuery};
use serde::Deserialize;

use super::*;
use crate::html::esc;

#[derive(Deserialize, Default)]
pub(super) struct SearchForm {
    #[serde(default)]
    number: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// A recording configuration's name; empty: any.
    #[serde(default)]
    configuration: String,
    /// A `[[users]]` or `[[groups]]` id; empty: any.
    #[serde(default)]
    party: String,
    /// `recovered`, `pending`, `held` or `quality`; empty: any.
    #[serde(default)]
    flag: String,
    /// The page, from 0.
    #[serde(default)]
    page: u32,
}

/// Hits a page.
pub(super) const PAGE_SIZE: u32 = 50;

impl SearchForm {
    fn is_empty(&self) -> bool {
        [&self.number, &self.from, &self.to, &self.configuration, &self.party, &self.flag].iter().all(|v| v.trim().is_empty())
    }

    /// This search's address at page `page`.
    fn href(&self, page: u32) -> String {
        let q: Vec<String> = [
            ("number", &self.number),
            ("from", &self.from),
            ("to", &self.to),
            ("configuration", &self.configuration),
            ("party", &self.party),
            ("flag", &self.flag),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)))
        .chain(std::iter::once(format!("page={page}")))
        .collect();
        format!("/search?{}", q.join("&"))
    }
}

/// A `<select>` named `name` of `choices` (value, label) with `current` chosen and a first
/// choice "any".
fn select(name: &str, label: &str, choices: &[(String, String)], current: &str) -> String {
    let options: String = std::iter::once((String::new(), "any".to_owned()))
        .chain(choices.iter().cloned())
        .map(|(v, l)| format!("<option value=\"{}\"{}>{}</option>", esc(&v), if v == current { " selected" } else { "" }, esc(&l)))
        .collect();
    format!("<label>{label} <select name=\"{name}\" id=\"{name}\">{options}</select></label>")
}

/// A date `YYYY-MM-DD` (UTC midnight; `end`: the next midnight, so the day is included) or
/// an RFC 3339 time; empty: none.
pub(super) fn parse_time(s: &str, end: bool) -> Result<Option<DateTime<Utc>>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let d = if end { d.succ_opt().unwrap_or(d) } else { d };
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    DateTime::parse_from_rfc3339(s).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| format!("{s:?} is not a date (2026-11-26) or an RFC 3339 time"))
}

/// Why a search cannot run: said on the form, with 400.
fn invalid(app: &Console, q: &SearchForm) -> Result<SearchQuery, String> {
    let from = parse_time(&q.from, false)?;
    let to = parse_time(&q.to, true)?;
    let number = Some(q.number.trim().to_owned()).filter(|n| !n.is_empty());
    let configuration = Some(q.configuration.trim().to_owned()).filter(|c| !c.is_empty());
    let party = q.party.trim();
    let parties = if party.is_empty() {
        Vec::new()
    } else {
        app.policy.numbers_of(party).ok_or_else(|| format!("no user or group has the id {party:?}"))?
    };
    if !party.is_empty() && parties.is_empty() {
        return Err(format!("user or group {party:?} has no number in the configuration, so no call can be theirs"));
    }
    let flag = match q.flag.trim() {
        "" => None,
        f => Some(cr_journal::SearchFlag::parse(f).ok_or_else(|| format!("{f:?} is not a flag (recovered, pending, held, quality)"))?),
    };
    let mut query = SearchQuery::default();
    query.number = number;
    // People remember parts of numbers: 3 or more digits anywhere in a party's number.
    query.any_part = true;
    query.from = from;
    query.to = to;
    query.configuration = configuration;
    query.parties = parties;
    query.flag = flag;
    query.limit = Some(PAGE_SIZE);
    query.offset = u64::from(q.page) * u64::from(PAGE_SIZE);
    Ok(query)
}

pub(super) async fn search(State(app): State<App>, headers: HeaderMap, Query(q): Query<SearchForm>) -> Response {
    let s = match require(&app, &headers, Role::Auditor) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let configurations: Vec<(String, String)> = app.policy.recordings.iter().map(|r| (r.name.clone(), r.name.clone())).collect();
    let parties: Vec<(String, String)> = (app.policy.users.iter().map(|u| (u.id.clone(), format!("user {}", u.id))))
        .chain(app.policy.groups.iter().map(|g| (g.id.clone(), format!("group {}", g.id))))
        .collect();
    let flags: Vec<(String, String)> = [("recovered", "recovered"), ("pending", "pending delivery"), ("held", "on hold"), ("untimestamped", "no time-stamp yet"), ("quality", "quality below thresholds")]
        .iter()
        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
        .collect();
    let form = format!(
        "<h1>Search</h1><form method=\"get\" action=\"/search\" id=\"search\">\
         <label>Party number (whole, or any 3 or more of its digits in a row) <input name=\"number\" id=\"number\" value=\"{}\"></label>\
         <label>From <input name=\"from\" id=\"from\" placeholder=\"2026-11-01\" value=\"{}\"></label>\
         <label>To (inclusive) <input name=\"to\" id=\"to\" placeholder=\"2026-11-30\" value=\"{}\"></label>\
         {}{}{}<button type=\"submit\" id=\"find\">Search</button></form>",
        esc(&q.number),
        esc(&q.from),
        esc(&q.to),
        select("configuration", "Configuration", &configurations, q.configuration.trim()),
        select("party", "User or group", &parties, q.party.trim()),
        select("flag", "Flag", &flags, q.flag.trim()),
    );
    if q.is_empty() {
        return html(StatusCode::OK, "Search", Some(&s), &form);
    }
    let query = match invalid(&app, &q) {
        Ok(query) => query,
        Err(e) => return html(StatusCode::BAD_REQUEST, "Search", Some(&s), &format!("{form}<p class=\"err\">{}</p>", esc(&e))),
    };
    let who = s.operator.clone();
    let filters = serde_json::json!({
        "number": query.number, "from": query.from, "to": query.to, "configuration": query.configuration,
        "party": Some(q.party.trim()).filter(|p| !p.is_empty()), "flag": query.flag.map(cr_journal::SearchFlag::as_str), "page": q.page,
    });
    let found = blocking(&app, move |c| {
        let journal = c.journal();
        let page = journal.search_page(&query)?;
        let mut details = filters;
        details["found"] = serde_json::json!(page.hits.len());
        details["via"] = serde_json::json!("console");
        journal.audit(&AuditKind::Searched, Utc::now(), Some(&who), None, &details)?;
        Ok::<_, JournalError>(page)
    })
    .await;
    let page = match found {
        Err(r) => return r,
        // The query itself is wrong (e.g. a number without digits): say so on the form.
        Ok(Err(e @ JournalError::Invalid { .. })) => {
            return html(StatusCode::BAD_REQUEST, "Search", Some(&s), &format!("{form}<p class=\"err\">{}</p>", esc(&e.to_string())));
        }
        Ok(Err(e)) => return journal_fail(&e),
        Ok(Ok(p)) => p,
    };
    let mut rows = String::new();
    for h in &page.hits {
        let delivery: Vec<String> = h.deliveries.iter().map(|d| format!("{}: {}", d.target, d.state.as_str())).collect();
        rows.push_str(&format!(
            "<tr class=\"hit\"><td><a href=\"/recordings/{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td><td>#{}</td><td>{}</td><td>{}</td></tr>",
            esc(&time_text(h.started_at)),
            duration_text(h.duration_ms),
            esc(&h.configuration),
            esc(&h.caller),
            esc(&h.callee),
            h.chain_seq,
            esc(&delivery.join(", ")),
            esc(&h.flags.join(", ")),
            id = esc(&h.set_id),
        ));
    }
    let first = q.page as usize * PAGE_SIZE as usize;
    let head = "<table id=\"results\"><tr><th>Set</th><th>Start</th><th>Duration</th><th>Configuration</th><th>Parties</th><th>Chain</th><th>Delivery</th><th>Flags</th></tr>";
    let table = if page.hits.is_empty() {
        format!("<p id=\"count\">{}</p>", if q.page == 0 { "No recording matches." } else { "No more recordings match." })
    } else if q.page == 0 && !page.more {
        format!("<p id=\"count\">{} recording(s).</p>{head}{rows}</table>", page.hits.len())
    } else {
        format!(
            "<p id=\"count\">Recordings {}–{}{}.</p>{head}{rows}</table>",
            first + 1,
            first + page.hits.len(),
            if page.more { ", more follow" } else { "" },
        )
    };
    let mut links = Vec::new();
    if q.page > 0 {
        links.push(format!("<a id=\"previous\" href=\"{}\">Previous page</a>", esc(&q.href(q.page - 1))));
    }
    if page.more {
        links.push(format!("<a id=\"next\" href=\"{}\">Next page</a>", esc(&q.href(q.page + 1))));
    }
    html(StatusCode::OK, "Search", Some(&s), &format!("{form}{table}<p class=\"pages\">{}</p>", links.join(" ")))
}
