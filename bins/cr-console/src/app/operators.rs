//! The operators page (admin only): the accounts, adding one (the journal's rules for names
//! and passwords, as `crctl operator add`) and disabling one (never oneself). Every change
//! is audited by the journal under the admin's name (`operator_added`, `operator_disabled`);
//! a signed-in operator without the role is refused and audited (`access_denied`).

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use cr_journal::{JournalError, Role};
use serde::Deserialize;

use super::*;
use crate::html::esc;


fn list_html(s: &Session, ops: &[cr_journal::Operator], message: &str) -> String {
    let mut rows = String::new();
    for o in ops {
        let state = match (&o.disabled_at, &o.disabled_by) {
            (Some(t), by) => format!("disabled {}{}", time_text(*t), by.as_deref().map_or_else(String::new, |b| format!(" by {}", esc(b)))),
            (None, _) if o.name == s.operator => "enabled (you)".to_owned(),
            (None, _) => format!(
                "enabled <form class=\"inline\" method=\"post\" action=\"/operators/disable\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <input type=\"hidden\" name=\"name\" value=\"{n}\"><button type=\"submit\" id=\"disable-{n}\">Disable</button></form>",
                esc(&s.csrf),
                n = esc(&o.name)
            ),
        };
        rows.push_str(&format!(
            "<tr class=\"operator\"><td class=\"name\">{}</td><td>{}</td><td class=\"state\">{state}</td><td>{}</td></tr>",
            esc(&o.name),
            o.role.as_str(),
            esc(&o.created_by)
        ));
    }
    let roles: String = [Role::Auditor, Role::Supervisor, Role::Admin].iter().map(|r| format!("<option value=\"{r}\">{r}</option>", r = r.as_str())).collect();
    format!(
        "<h1>Operators</h1>{message}<table id=\"operators\"><tr><th>Name</th><th>Role</th><th>State</th><th>Created by</th></tr>{rows}</table>\
         <h2>Add an operator</h2><form method=\"post\" action=\"/operators/add\" id=\"add\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label>Name <input name=\"name\" id=\"new-name\" required></label>\
         <label>Role <select name=\"role\" id=\"new-role\">{roles}</select></label>\
         <label>Initial password (at least {} characters) <input name=\"password\" id=\"new-password\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <label>Again <input name=\"again\" id=\"new-again\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <button type=\"submit\" id=\"add-operator\">Add</button></form>",
        esc(&s.csrf),
        cr_journal::MIN_PASSWORD_CHARS
    )
}

async fn show(app: &App, s: &Session, code: StatusCode, message: &str) -> Response {
    match blocking(app, |c| c.journal().operators()).await {
        Err(r) => r,
        Ok(Err(e)) => journal_fail(&e),
        Ok(Ok(ops)) => html(code, "Operators", Some(s), &list_html(s, &ops, message)),
    }
}

fn refusal(e: &JournalError) -> Option<String> {
    matches!(e, JournalError::Refused { .. } | JournalError::Invalid { .. } | JournalError::Missing { .. }).then(|| format!("<p class=\"err\" id=\"message\">{}</p>", esc(&e.to_string())))
}

pub(super) async fn operators(State(app): State<App>, headers: HeaderMap) -> Response {
    match require_action(&app, &headers, Role::Admin, None, "the operators page").await {
        Ok(s) => show(&app, &s, StatusCode::OK, "").await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub(super) struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

pub(super) async fn add(State(app): State<App>, headers: HeaderMap, Form(f): Form<AddForm>) -> Response {
    let s = match require_action(&app, &headers, Role::Admin, Some(&f.csrf), "adding an operator").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let role = match f.role.parse::<Role>() {
        Ok(r) => r,
        Err(e) => return show(&app, &s, StatusCode::BAD_REQUEST, &format!("<p class=\"err\" id=\"message\">{}</p>", esc(&e))).await,
    };
    if f.password != f.again {
        return show(&app, &s, StatusCode::BAD_REQUEST, "<p class=\"err\" id=\"message\">The two passwords differ; nothing was changed.</p>").await;
    }
    let by = s.operator.clone();
    let name = f.name.trim().to_owned();
    match blocking(&app, move |c| c.journal().add_operator(&name, role, &f.password, Some(&by), Utc::now())).await {
        Err(r) => r,
        Ok(Ok(_)) => Redirect::to("/operators").into_response(),
        Ok(Err(e)) => match refusal(&e) {
            Some(m) => show(&app, &s, StatusCode::BAD_REQUEST, &m).await,
            None => journal_fail(&e),
        },
    }
}

#[derive(Deserialize)]
pub(super) struct DisableForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub(super) async fn disable(State(app): State<App>, headers: HeaderMap, Form(f): Form<DisableForm>) -> Response {
    let s = match require_action(&app, &headers, Role::Admin, Some(&f.csrf), "disabling an operator").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if f.name == s.operator {
        return show(&app, &s, StatusCode::BAD_REQUEST, "<p class=\"err\" id=\"message\">An admin cannot disable their own account; ask another admin.</p>").await;
    }
    let by = s.operator.clone();
    match blocking(&app, move |c| c.journal().disable_operator(&f.name, &by, Utc::now())).await {
        Err(r) => r,
        Ok(Ok(())) => Redirect::to("/operators").into_response(),
        Ok(Err(e)) => match refusal(&e) {
            Some(m) => show(&app, &s, StatusCode::BAD_REQUEST, &m).await,
            None => journal_fail(&e),
        },
    }
}
