//! Turns a stored record into the JSON object the vendor's API serves.
//!
//! The templates follow the samples in the vendors' docs (see /work/shared/seeds):
//! Zoom details mention users by email and keep the HTML entities real ones carry
//! (`&amp;`, `&quot;`); Phone details carry numbers such as "+1 415 555 0134"; Zoho
//! records hold their `data` as a JSON document inside a string.

use serde_json::{json, Value};

use super::names::*;
use super::zoho::ZOHO;
use super::{hash_parts, Mix, Rec};
use crate::clock::from_ms;
use crate::SimApi;

/// What every record of one account shares: its company, domain and admins.
#[derive(Debug, Clone)]
pub(crate) struct AccountCtx {
    pub seed: u64,
    pub company: &'static str,
    pub domain: &'static str,
}

impl AccountCtx {
    pub fn new(config_seed: u64, account: &str) -> Self {
        let seed = hash_parts(config_seed, &[b"account", account.as_bytes()]);
        let (company, domain) = COMPANIES[(seed % COMPANIES.len() as u64) as usize];
        AccountCtx {
            seed,
            company,
            domain,
        }
    }

    /// One of the account's six admins.
    pub(super) fn admin(&self, r: &mut Mix) -> String {
        let mut a = Mix(self.seed ^ r.below(6));
        self.person(&mut a)
    }

    pub(super) fn person(&self, r: &mut Mix) -> String {
        format!("{}.{}@{}", r.pick(FIRST), r.pick(LAST), self.domain)
    }

    fn any_user(&self, r: &mut Mix) -> String {
        if r.below(12) == 0 {
            format!(
                "{}{}@{}",
                r.pick(FIRST),
                r.below(100),
                r.pick(EXTERNAL_DOMAINS)
            )
        } else {
            self.person(r)
        }
    }
}

struct Tpl {
    category: &'static str,
    action: &'static str,
    detail: &'static str,
    weight: u32,
}

const fn t(category: &'static str, action: &'static str, detail: &'static str, weight: u32) -> Tpl {
    Tpl {
        category,
        action,
        detail,
        weight,
    }
}

const ZOOM: &[Tpl] = &[
    t("User", "Add", "Add User {user} ", 8),
    t("User", "Update", "Activate User {user} ", 6),
    t("User", "Update", "Deactivate User {user} ", 4),
    t("User", "Delete", "Delete User {user} ", 3),
    t("User", "Update", "Update User {user} - User Type: from Basic to Licensed", 6),
    t("User Settings", "Update", "Update User Settings {user} - Meeting: Allow participants to rename themselves: from &quot;On&quot; to &quot;Off&quot;", 8),
    t("User Settings", "Update", "Update User Settings {user} - Recording: Cloud recording: from Off to On", 5),
    t("Account", "Update", "Update Account Settings - Security: Waiting Room: from &quot;Everyone&quot; to &quot;Guests only&quot;", 3),
    t("Account", "Update", "Update Account Profile - Company Name: from &quot;{company}&quot; to &quot;{company} &amp; Co&quot;", 1),
    t("Role", "Add", "Add Role &quot;{role}&quot;", 2),
    t("Role", "Update", "Assign Role {role} to {user}", 4),
    t("Role", "Delete", "Delete Role &quot;{role}&quot;", 1),
    t("Recording", "Delete", "Delete Recording &quot;{topic}&quot; (Meeting ID {mid}) of {user}", 6),
    t("Recording", "Update", "Recover Recording &quot;{topic}&quot; of {user}", 2),
    t("Webinar", "Add", "Scheduled webinar {n4}", 3),
    t("Billing", "Update", "Update Billing Contact to {user}", 1),
    t("IM", "Update", "Add member {user} to IM Group &quot;{group}&quot;", 3),
    t("Zoom Rooms", "Update", "Update Room &quot;{room}&quot; Settings - Screen share: from On to Off", 2),
    t("Sub Account", "Add", "Add Sub Account {company} {city}", 1),
    t("Phone Contacts", "Add", "Add Phone Contact {user} {phone}", 1),
    t("Integration", "Leave", "Scheduled webinar {n4}", 1),
];

const PHONE: &[Tpl] = &[
    t("Phone Number", "ADD", "Add BYOC {phone}", 6),
    t("Phone Number", "UPDATE", "Assign {phone} to {user}", 6),
    t("Phone Number", "DELETE", "Unassign {phone} from {user}", 2),
    t("Device", "ADD", "Add Device {device} MAC {mac}", 4),
    t("Device", "UPDATE", "Assign Device {device} MAC {mac} to {user}", 4),
    t("Device", "DELETE", "Delete Device MAC {mac}", 1),
    t("Call Queue", "ADD", "Add Call Queue &quot;{queue}&quot; Ext. {ext}", 2),
    t("Call Queue", "UPDATE", "Add member {user} to Call Queue &quot;{queue}&quot;", 5),
    t("Auto Receptionist", "UPDATE", "Update Auto Receptionist &quot;Main Line&quot; business hours", 1),
    t("User", "UPDATE", "Update {user} Extension {ext} Calling Plan: from &quot;US/CA Metered&quot; to &quot;US/CA Unlimited&quot;", 4),
    t("Site", "ADD", "Add Site &quot;{city}&quot;", 1),
];

fn weighted<T>(r: &mut Mix, xs: &[T], weight: impl Fn(&T) -> u32) -> u16 {
    let total: u32 = xs.iter().map(&weight).sum();
    let mut x = r.below(u64::from(total)) as u32;
    for (i, item) in xs.iter().enumerate() {
        let w = weight(item);
        if x < w {
            return i as u16;
        }
        x -= w;
    }
    0
}

pub(crate) fn pick_kind(api: SimApi, r: &mut Mix) -> u16 {
    match api {
        SimApi::ZoomOperationLogs => weighted(r, ZOOM, |t| t.weight),
        SimApi::ZoomPhoneOperationLogs => weighted(r, PHONE, |t| t.weight),
        SimApi::ZohoMailAudit => weighted(r, ZOHO, |t| t.7),
    }
}

/// The `category_type` query value (`user_settings`) that selects a record of `kind`.
pub(crate) fn zoom_category_label(kind: u16) -> &'static str {
    ZOOM.get(usize::from(kind)).map_or("", |t| t.category)
}

/// Phone `category_type` values are the labels themselves ("Phone Number").
pub(crate) fn phone_category_matches(kind: u16, wanted: &str) -> bool {
    PHONE
        .get(usize::from(kind))
        .is_some_and(|t| t.category.eq_ignore_ascii_case(wanted))
}

/// The record as the API serves it.
pub(crate) fn render(api: SimApi, ctx: &AccountCtx, rec: &Rec) -> Value {
    match api {
        SimApi::ZoomOperationLogs => render_zoom(ZOOM, ctx, rec),
        SimApi::ZoomPhoneOperationLogs => render_zoom(PHONE, ctx, rec),
        SimApi::ZohoMailAudit => super::zoho::render_zoho(ctx, rec),
    }
}

fn render_zoom(table: &[Tpl], ctx: &AccountCtx, rec: &Rec) -> Value {
    let tpl = &table[usize::from(rec.kind) % table.len()];
    let mut r = Mix(rec.seed);
    let operator = ctx.admin(&mut r);
    let detail = expand(tpl.detail, ctx, &mut r);
    json!({
        "time": from_ms(rec.time_ms).format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "operator": operator,
        "category_type": tpl.category,
        "action": tpl.action,
        "operation_detail": detail,
    })
}

fn expand(tpl: &str, ctx: &AccountCtx, r: &mut Mix) -> String {
    let mut out = String::with_capacity(tpl.len() + 32);
    let mut rest = tpl;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        match name {
            "user" => out.push_str(&ctx.any_user(r)),
            "company" => out.push_str(&ctx.company.replace('&', "&amp;")),
            "role" => out.push_str(r.pick(ROLES)),
            "topic" => out.push_str(r.pick(TOPICS)),
            "group" => out.push_str(r.pick(GROUPS)),
            "room" => out.push_str(r.pick(ROOMS)),
            "device" => out.push_str(r.pick(DEVICES)),
            "queue" => out.push_str(r.pick(QUEUES)),
            "city" => out.push_str(r.pick(CITIES)),
            "mid" => out.push_str(&format!(
                "{} {:04} {:04}",
                800 + r.below(199),
                r.below(10_000),
                r.below(10_000)
            )),
            "n4" => out.push_str(&(1000 + r.below(9000)).to_string()),
            "ext" => out.push_str(&(1000 + r.below(9000)).to_string()),
            "phone" => out.push_str(&format!(
                "+1 {} 555 {:04}",
                r.pick(AREA_CODES),
                r.below(10_000)
            )),
            "mac" => out.push_str(&format!("0004F2{:06X}", r.below(1 << 24))),
            other => out.push_str(other),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}
