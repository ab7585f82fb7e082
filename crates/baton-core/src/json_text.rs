//! Finding JSON in what a model wrote: models wrap JSON in ``` fences and prose, so
//! the planner and the verifier read answers through these tolerant helpers.
//!
//! The scan is textual (balanced brackets, respecting strings and escapes) and each
//! candidate is confirmed with `serde_json`, so a bracket in prose such as
//! "[see below]" is never mistaken for the answer.

/// The most candidate openings tried before giving up, so a long text full of
/// unbalanced brackets costs a bounded amount of work.
const MAX_CANDIDATES: usize = 64;

/// The first complete JSON object or array in `text`.
///
/// A ``` fenced block (with or without a language tag) is searched first, then the
/// whole text. Returns the exact slice, trimmed, that parses as JSON; `None` when
/// there is none (including JSON cut short, e.g. a truncated answer).
pub fn extract_json(text: &str) -> Option<&str> {
    if let Some(inner) = fenced_block(text)
        && let Some(found) = first_json_value(inner)
    {
        return Some(found);
    }
    first_json_value(text)
}

/// The text with one surrounding ``` fence removed (and its language tag), trimmed;
/// text that is not fenced is returned trimmed.
pub fn strip_code_fence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(after_open) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let Some(body) = after_open.strip_suffix("```") else {
        return trimmed;
    };
    // The opening line may carry a language tag (```json); the body starts after it.
    match body.find('\n') {
        Some(newline) if !body[..newline].trim().contains(char::is_whitespace) => {
            body[newline + 1..].trim()
        }
        _ => body.trim(),
    }
}

/// The inside of the first ``` fenced block, if the text has a closed one.
fn fenced_block(text: &str) -> Option<&str> {
    let open = text.find("```")?;
    let after_open = &text[open + 3..];
    let body_start = after_open.find('\n').map_or(0, |newline| newline + 1);
    let body = &after_open[body_start..];
    let close = body.find("```")?;
    Some(body[..close].trim())
}

fn first_json_value(text: &str) -> Option<&str> {
    let candidates = text
        .char_indices()
        .filter(|&(_, c)| c == '{' || c == '[')
        .map(|(position, _)| position)
        .take(MAX_CANDIDATES);
    for start in candidates {
        let Some(end) = balanced_end(&text[start..]) else {
            continue;
        };
        let candidate = &text[start..start + end];
        if serde_json::from_str::<serde::de::IgnoredAny>(candidate).is_ok() {
            return Some(candidate);
        }
    }
    None
}

/// The length of the balanced bracketed value at the start of `text` (which begins
/// with `{` or `[`), or `None` when it is cut short or its brackets do not match.
fn balanced_end(text: &str) -> Option<usize> {
    let mut closers: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    for (position, byte) in text.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' => closers.push(b'}'),
            b'[' => closers.push(b']'),
            b'}' | b']' => {
                if closers.pop() != Some(byte) {
                    return None;
                }
                if closers.is_empty() {
                    return Some(position + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
