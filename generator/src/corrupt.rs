//! Turning a valid line into one a reader must dead-letter.

/// One way a producer breaks a record.
pub(crate) enum Bad {
    /// A line that is not JSON at all.
    NotJson(&'static str),
    /// The line cut off part-way, as after a crashed write.
    Truncate,
    /// A field's value replaced by this JSON text.
    Replace(&'static str, String),
    /// A required field left out.
    Remove(&'static str),
    /// An extra `"name":value` pair.
    Add(&'static str),
    /// Valid JSON, but an array instead of an object.
    NotObject,
}

/// Byte range of the value of `"field":` in a line we rendered ourselves
/// (values hold no nested commas except arrays, which are matched).
fn value_span(line: &[u8], field: &str) -> Option<(usize, usize, usize)> {
    let pat = format!("\"{field}\":");
    let key = line.windows(pat.len()).position(|w| w == pat.as_bytes())?;
    let start = key + pat.len();
    let end = match line.get(start)? {
        b'"' => start + 1 + line[start + 1..].iter().position(|&c| c == b'"')? + 1,
        b'[' => {
            let mut depth = 0;
            let mut i = start;
            loop {
                match line[i] {
                    b'[' => depth += 1,
                    b']' => {
                        depth -= 1;
                        if depth == 0 {
                            break i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => start + line[start..].iter().position(|&c| c == b',' || c == b'}')?,
    };
    Some((key, start, end))
}

pub(crate) fn corrupt(line: &[u8], bad: &Bad) -> Vec<u8> {
    match bad {
        Bad::NotJson(text) => text.as_bytes().to_vec(),
        Bad::Truncate => line[..line.len() * 11 / 20].to_vec(),
        Bad::NotObject => {
            let mut v = b"[".to_vec();
            v.extend_from_slice(line);
            v.push(b']');
            v
        }
        Bad::Replace(field, value) => match value_span(line, field) {
            Some((_, start, end)) => [&line[..start], value.as_bytes(), &line[end..]].concat(),
            None => corrupt(line, &Bad::Truncate),
        },
        Bad::Remove(field) => match value_span(line, field) {
            Some((key, _, end)) if line[key - 1] == b',' => {
                [&line[..key - 1], &line[end..]].concat()
            }
            Some((key, _, end)) => [&line[..key], &line[end + 1..]].concat(),
            None => corrupt(line, &Bad::Truncate),
        },
        Bad::Add(pair) => {
            let mut v = line[..line.len() - 1].to_vec();
            v.push(b',');
            v.extend_from_slice(pair.as_bytes());
            v.push(b'}');
            v
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(bad: Bad) -> String {
        let line =
            br#"{"event_id":"e1","amount":12.5,"addons":[{"a":1},{"b":2}],"currency":"USD"}"#;
        String::from_utf8(corrupt(line, &bad)).unwrap()
    }

    #[test]
    fn edits_fields() {
        assert_eq!(
            s(Bad::Replace("amount", "\"12.5\"".into())),
            r#"{"event_id":"e1","amount":"12.5","addons":[{"a":1},{"b":2}],"currency":"USD"}"#
        );
        assert_eq!(
            s(Bad::Remove("addons")),
            r#"{"event_id":"e1","amount":12.5,"currency":"USD"}"#
        );
        assert_eq!(
            s(Bad::Remove("event_id")),
            r#"{"amount":12.5,"addons":[{"a":1},{"b":2}],"currency":"USD"}"#
        );
        assert_eq!(
            s(Bad::Add("\"schema_version\":2")),
            r#"{"event_id":"e1","amount":12.5,"addons":[{"a":1},{"b":2}],"currency":"USD","schema_version":2}"#
        );
    }
}
