//! Zoho Mail audit records: the categories and operations they come in, and how one
//! is rendered with its ids (`lastIndexTime`, `lastEntityId`) and its `data` string.
//!
//! Apart from the Zoom templates because the record shape and the paging keys differ.

use serde_json::{json, Value};

use super::names::*;
use super::render::AccountCtx;
use super::{Mix, Rec};

/// Zoho: (mainCategory, category, category code, subCategory, sub code, operation,
/// operationType).
type ZohoTpl = (
    &'static str,
    &'static str,
    u32,
    &'static str,
    u32,
    &'static str,
    &'static str,
    u32,
);
pub(super) const ZOHO: &[ZohoTpl] = &[
    (
        "Users",
        "MAILBOX",
        1003,
        "MAILBOX_USER",
        4007,
        "ORG_INFO_ADD",
        "ADD",
        6,
    ),
    (
        "Users",
        "MAILBOX",
        1003,
        "MAILBOX_USER",
        4007,
        "USER_UPDATE",
        "UPDATE",
        6,
    ),
    (
        "Users",
        "MAILBOX",
        1003,
        "MAILBOX_USER",
        4007,
        "USER_DELETE",
        "DELETE",
        2,
    ),
    (
        "Users",
        "MAILBOX",
        1003,
        "MAILBOX_SETTINGS",
        4008,
        "FORWARD_UPDATE",
        "UPDATE",
        3,
    ),
    (
        "Groups",
        "GROUP",
        1002,
        "GROUP_MEMBER",
        4004,
        "GROUP_MEMBER_ADD",
        "ADD",
        4,
    ),
    (
        "Groups",
        "GROUP",
        1002,
        "GROUP_SETTINGS",
        4005,
        "GROUP_UPDATE",
        "UPDATE",
        2,
    ),
    (
        "Organization",
        "ORGANIZATION",
        1001,
        "DOMAIN",
        4002,
        "DOMAIN_ADD",
        "ADD",
        1,
    ),
    (
        "Organization",
        "ORGANIZATION",
        1001,
        "ORG_SETTINGS",
        4001,
        "ORG_INFO_UPDATE",
        "UPDATE",
        2,
    ),
    (
        "Security & Compliance",
        "SECURITY",
        1004,
        "MAIL_POLICY",
        4010,
        "POLICY_UPDATE",
        "UPDATE",
        2,
    ),
    (
        "Data Management",
        "EXPORT",
        1005,
        "MAILBOX_EXPORT",
        4013,
        "MAILBOX_EXPORT_DOWNLOAD",
        "DOWNLOAD",
        1,
    ),
];

/// Zoho's `lastIndexTime` of a record: the millisecond it was indexed (and became
/// visible: its `requestTime` plus the indexing delay, much later for a late record)
/// followed by a 3-digit sequence, as in the docs' sample ("1710316191981002").
pub(crate) fn zoho_index_time(rec: &Rec) -> i128 {
    i128::from(rec.visible_ms) * 1000 + i128::from(rec.seq % 1000)
}

pub(super) fn render_zoho(ctx: &AccountCtx, rec: &Rec) -> Value {
    let (main, category, _, sub, _, operation, op_type, _) =
        ZOHO[usize::from(rec.kind) % ZOHO.len()];
    let mut r = Mix(rec.seed);
    let by = ctx.admin(&mut r);
    let on = match category {
        "GROUP" => format!(
            "{}@{}",
            r.pick(GROUPS).to_lowercase().replace("&amp;", ""),
            ctx.domain
        ),
        "ORGANIZATION" => ctx.domain.to_string(),
        _ => ctx.person(&mut r),
    };
    let data = match operation {
        "ORG_INFO_ADD" => json!({"peopleInfo": {}, "emailId": on}),
        "USER_UPDATE" => {
            json!({"emailId": on, "changes": {"displayName": {"old": r.pick(FIRST), "new": r.pick(FIRST)}}})
        }
        "FORWARD_UPDATE" => {
            json!({"emailId": on, "forwardTo": format!("{}@{}", r.pick(FIRST), r.pick(EXTERNAL_DOMAINS)), "keepCopy": r.below(2) == 0})
        }
        "GROUP_MEMBER_ADD" => {
            json!({"groupEmail": on, "members": [ctx.person(&mut r)], "role": "member"})
        }
        "DOMAIN_ADD" => json!({"domainName": format!("mail.{}", ctx.domain), "verified": false}),
        "POLICY_UPDATE" => {
            json!({"policy": "Default & Strict", "attachmentLimitMb": 20 + r.below(30)})
        }
        "MAILBOX_EXPORT_DOWNLOAD" => {
            json!({"emailId": on, "format": "eml", "sizeKb": r.below(900_000)})
        }
        _ => json!({"emailId": on}),
    };
    let ip = if r.below(4) == 0 {
        format!("203.0.113.{}", 1 + r.below(254))
    } else {
        format!("172.18.{}.{}", r.below(256), 1 + r.below(254))
    };
    let status = if r.below(30) == 0 {
        "failure"
    } else {
        "success"
    };
    json!({
        "subCategory": sub,
        "data": data.to_string(),
        "type": "ADMIN",
        "requestTime": rec.time_ms,
        "performedBy": by,
        "auditLogType": "ORGADMIN_AUDIT",
        "clientIp": ip,
        "mainCategory": main,
        "operationType": op_type,
        "performedOn": on,
        "category": category,
        "operation": operation,
        "status": status,
    })
}

/// Zoho's `lastEntityId` of a record: "<index time>_<node>@<host>".
pub(crate) fn zoho_entity_id(ctx: &AccountCtx, rec: &Rec) -> String {
    let node = ["sas", "mas", "ias"][(rec.seed % 3) as usize];
    format!(
        "{}_{}@172.18.{}.{}",
        zoho_index_time(rec),
        node,
        (ctx.seed >> 8) % 256,
        rec.seed % 250 + 1
    )
}

/// Whether a Zoho record's category or subCategory matches a searchKey value, which
/// may be the numeric code (`1003`) or the name (`MAILBOX`).
pub(crate) fn zoho_code_matches(rec: &Rec, key: &str, value: &str) -> Option<bool> {
    let t = ZOHO[usize::from(rec.kind) % ZOHO.len()];
    let (name, code) = match key {
        "category" => (t.1, t.2),
        "subCategory" => (t.3, t.4),
        _ => return None,
    };
    Some(value == code.to_string() || value.eq_ignore_ascii_case(name))
}
