//! Small text helpers the per-API normalizers share: HTML entity decoding, a lower-case
//! verb for `action`, and best-effort extraction of an email address or phone number
//! from Zoom's free-text `operation_detail` for `target`.

use serde_json::Value;

/// Decodes HTML entities (`&quot;`, `&#39;`, `&amp;`) and trims; empty becomes `None`.
pub(crate) fn clean_text(s: &str) -> Option<String> {
    let decoded = html_escape::decode_html_entities(s);
    let t = decoded.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A string field of a record, cleaned.
pub(crate) fn text_field(raw: &Value, key: &str) -> Option<String> {
    match raw.get(key)? {
        Value::String(s) => clean_text(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `Update` -> `update`, `ADD` -> `add`, `Sign in` -> `sign_in`; never empty.
pub(crate) fn verb(s: Option<&str>) -> String {
    let v: String = s
        .map(|s| html_escape::decode_html_entities(s).trim().to_lowercase())
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_");
    if v.is_empty() {
        "unknown".to_string()
    } else {
        v
    }
}

/// The first email address in `text`.
pub(crate) fn find_email(text: &str) -> Option<String> {
    let is_local = |c: char| c.is_alphanumeric() || "._%+-'".contains(c);
    let is_domain = |c: char| c.is_alphanumeric() || ".-".contains(c);
    for (at, _) in text.match_indices('@') {
        let local_start = text[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_local(*c))
            .last()
            .map(|(i, _)| i);
        let rest = &text[at + 1..];
        let domain_len: usize = rest
            .chars()
            .take_while(|c| is_domain(*c))
            .map(char::len_utf8)
            .sum();
        let domain = rest[..domain_len].trim_end_matches(['.', '-']);
        if let Some(start) = local_start {
            let local = text[start..at].trim_start_matches(['.', '\'']);
            if !local.is_empty() && domain.contains('.') && !domain.starts_with('.') {
                return Some(format!("{local}@{domain}"));
            }
        }
    }
    None
}

/// The first phone number in `text`: `+` and digits, or 7 or more digits, possibly
/// grouped by single spaces or dashes (`+86 182 5188 5564`).
pub(crate) fn find_phone(text: &str) -> Option<String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let prev_ok = i == 0 || !chars[i - 1].1.is_alphanumeric();
        if prev_ok && (c == '+' || c.is_ascii_digit()) {
            let mut j = i + usize::from(c == '+');
            let mut end = start;
            let mut digits = 0;
            while j < chars.len() {
                let (k, d) = chars[j];
                if d.is_ascii_digit() {
                    digits += 1;
                    end = k + 1;
                    j += 1;
                } else if (d == ' ' || d == '-')
                    && chars.get(j + 1).is_some_and(|(_, n)| n.is_ascii_digit())
                    && digits > 0
                {
                    j += 1;
                } else {
                    break;
                }
            }
            let next_ok = chars.get(j).is_none_or(|(_, n)| !n.is_alphanumeric());
            if next_ok && (digits >= 7 || (c == '+' && digits >= 5)) {
                return Some(text[start..end].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_decoded_and_trimmed() {
        assert_eq!(
            clean_text("  Changed &quot;Meeting&quot; &amp; &#39;x&#39; "),
            Some("Changed \"Meeting\" & 'x'".into())
        );
        assert_eq!(clean_text("   "), None);
    }

    #[test]
    fn verbs_are_lower_case_words() {
        assert_eq!(verb(Some("Update")), "update");
        assert_eq!(verb(Some("ADD")), "add");
        assert_eq!(verb(Some(" Sign  in ")), "sign_in");
        assert_eq!(verb(None), "unknown");
        assert_eq!(verb(Some("")), "unknown");
    }

    #[test]
    fn emails_are_found_in_free_text() {
        assert_eq!(
            find_email("Activate User sjkfhdsf@jdfgkhgd.com "),
            Some("sjkfhdsf@jdfgkhgd.com".into())
        );
        assert_eq!(
            find_email("Deactivate User mynewemail@jdfkdshfhjdsf.ffasdm."),
            Some("mynewemail@jdfkdshfhjdsf.ffasdm".into())
        );
        assert_eq!(
            find_email("User (a.b+c@x-y.io) added"),
            Some("a.b+c@x-y.io".into())
        );
        assert_eq!(find_email("at @ noon"), None);
        assert_eq!(find_email("foo@bar"), None);
    }

    #[test]
    fn phone_numbers_are_found_in_free_text() {
        assert_eq!(
            find_phone("Add BYOC +86 182 5188 5564"),
            Some("+86 182 5188 5564".into())
        );
        assert_eq!(
            find_phone("Assign 4155550123 to desk"),
            Some("4155550123".into())
        );
        assert_eq!(find_phone("Scheduled webinar 6200"), None);
        assert_eq!(find_phone("room A1234567"), None);
    }
}
