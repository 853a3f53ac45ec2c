//! Names: the hostname (one RFC 1123 label), the domain and the search
//! domains (dotted labels). Letters are lowered: names are case-insensitive.

use super::{shown, InputError, ListError, MAX_DOMAIN, MAX_LABEL, MAX_SEARCH};

/// The first character that is not a-z, 0-9 or `-` (after lowering).
fn bad_char(s: &str) -> Option<char> {
    s.chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
}

/// Checks one label's hyphens (the characters were checked already).
fn hyphens(label: &str) -> Result<(), InputError> {
    if label.starts_with('-') {
        return Err(InputError::LeadingHyphen {
            label: shown(label),
        });
    }
    if label.ends_with('-') {
        return Err(InputError::TrailingHyphen {
            label: shown(label),
        });
    }
    Ok(())
}

/// The hostname: one label of 1-63 characters a-z, 0-9 and `-`, not starting
/// or ending with `-`, not all digits. Returned in lower case.
pub fn hostname(input: &str) -> Result<String, InputError> {
    let t = input.trim();
    if t.is_empty() {
        return Err(InputError::HostnameRequired);
    }
    let lower = t.to_ascii_lowercase();
    if let Some((first, _)) = lower.split_once('.') {
        return Err(InputError::HostnameHasDots {
            input: shown(t),
            first: shown(first),
        });
    }
    let len = lower.chars().count();
    if len > MAX_LABEL {
        return Err(InputError::HostnameTooLong { len });
    }
    if let Some(ch) = bad_char(&lower) {
        return Err(InputError::BadChar {
            input: shown(t),
            ch,
        });
    }
    hyphens(&lower)?;
    if lower.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InputError::HostnameAllDigits { input: shown(t) });
    }
    Ok(lower)
}

/// A domain name: dotted labels, each 1-63 characters a-z, 0-9 and `-`, not
/// starting or ending with `-`; at most 253 characters; the last label not
/// all digits. One trailing dot is dropped. Returned in lower case.
fn domain_name(t: &str) -> Result<String, InputError> {
    let lower = t.to_ascii_lowercase();
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    let len = name.chars().count();
    if len > MAX_DOMAIN {
        return Err(InputError::DomainTooLong { len });
    }
    let labels: Vec<&str> = name.split('.').collect();
    if labels.iter().any(|l| l.is_empty()) {
        return Err(InputError::EmptyLabel { input: shown(t) });
    }
    for label in &labels {
        let len = label.chars().count();
        if len > MAX_LABEL {
            return Err(InputError::LabelTooLong {
                label: shown(label),
                len,
            });
        }
        if let Some(ch) = bad_char(label) {
            return Err(InputError::BadChar {
                input: shown(t),
                ch,
            });
        }
        hyphens(label)?;
    }
    if let Some(last) = labels.last() {
        if last.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InputError::TopLabelAllDigits {
                input: shown(t),
                label: shown(last),
            });
        }
    }
    Ok(name.to_string())
}

/// The optional domain: empty input means none.
pub fn domain(input: &str) -> Result<Option<String>, InputError> {
    let t = input.trim();
    if t.is_empty() {
        return Ok(None);
    }
    domain_name(t).map(Some)
}

/// Up to six search domains, none twice; an empty list is fine.
pub fn search_domains(items: &[&str]) -> Result<Vec<String>, ListError> {
    if items.len() > MAX_SEARCH {
        return Err(ListError::whole(InputError::TooManySearch {
            count: items.len(),
        }));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let t = item.trim();
        if t.is_empty() {
            return Err(ListError::at(
                i,
                InputError::EmptyLabel {
                    input: String::new(),
                },
            ));
        }
        let d = domain_name(t).map_err(|e| ListError::at(i, e))?;
        if out.contains(&d) {
            return Err(ListError::at(i, InputError::Duplicate { item: d }));
        }
        out.push(d);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<T: std::fmt::Debug>(r: Result<T, InputError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn hostnames_are_single_rfc1123_labels() {
        assert_eq!(hostname(" Appliance-1 "), Ok("appliance-1".to_string()));
        assert_eq!(hostname("1st"), Ok("1st".to_string()));
        assert_eq!(msg(hostname("")), "the hostname is required");
        assert_eq!(
            msg(hostname("web_1")),
            "\"web_1\" contains \"_\"; only letters a-z, digits and hyphens are allowed"
        );
        assert_eq!(msg(hostname("-web")), "\"-web\" starts with a hyphen");
        assert_eq!(msg(hostname("web-")), "\"web-\" ends with a hyphen");
        assert_eq!(
            msg(hostname("web.example.com")),
            "\"web.example.com\" contains dots; enter only the host name (\"web\"), the domain is set separately"
        );
        assert_eq!(
            msg(hostname(&"a".repeat(64))),
            "the hostname has 64 characters; at most 63 are allowed"
        );
        assert!(hostname(&"a".repeat(63)).is_ok());
        assert_eq!(
            msg(hostname("12345")),
            "\"12345\" is all digits; a hostname needs at least one letter"
        );
    }

    #[test]
    fn domains_are_dotted_labels() {
        assert_eq!(domain(""), Ok(None));
        assert_eq!(domain("Example.COM."), Ok(Some("example.com".to_string())));
        assert_eq!(domain("local"), Ok(Some("local".to_string())));
        assert!(msg(domain("example..com")).contains("has an empty label"));
        assert!(msg(domain(".example.com")).contains("has an empty label"));
        assert_eq!(msg(domain("-a.com")), "\"-a\" starts with a hyphen");
        assert_eq!(
            msg(domain("example.123")),
            "\"example.123\" ends in \"123\", which is all digits; the last label needs a letter"
        );
        let long = format!("{}.com", "a".repeat(64));
        assert!(msg(domain(&long)).contains("has 64 characters"));
        let huge = vec!["a".repeat(60); 5].join(".");
        assert_eq!(
            msg(domain(&huge)),
            "the domain has 304 characters; at most 253 are allowed"
        );
    }

    #[test]
    fn search_lists() {
        assert_eq!(search_domains(&[]), Ok(vec![]));
        assert_eq!(
            search_domains(&["a.example", "B.example"]),
            Ok(vec!["a.example".to_string(), "b.example".to_string()])
        );
        let e = search_domains(&["a.example", "A.example."]).unwrap_err();
        assert_eq!(e.index, Some(1));
        assert_eq!(e.error.to_string(), "a.example is listed twice");
        let seven = ["a", "b", "c", "d", "e", "f", "g"];
        assert_eq!(
            search_domains(&seven).unwrap_err().error.to_string(),
            "at most 6 search domains are allowed, 7 were given"
        );
    }
}
