//! What the simulator says, by kind of call.

use baton_core::status::CallKind;
use serde_json::{Value, json};

use super::{Dice, REQUEST_END, REQUEST_START, TASK_END, TASK_START};
use crate::provider::CompletionRequest;

/// The most tasks a simulated plan has.
const MAX_PLAN_TASKS: usize = 8;

/// The answer to a request; `malformed` garbles it on purpose.
pub(crate) fn answer(request: &CompletionRequest, dice: &mut Dice, malformed: bool) -> String {
    let last_user = request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == crate::provider::Role::User);
    let prompt = last_user.map_or("", |m| m.content.as_str());
    let text = match request.kind {
        CallKind::Plan => plan(find_request(request).unwrap_or(prompt)).to_string(),
        CallKind::Judge => json!({"passed": true, "score": 0.9, "reason": "[simulated] the output meets the criteria"}).to_string(),
        CallKind::Assess => {
            let mut score = || 0.75 + (dice.below(20) as f64) / 100.0;
            json!({
                "clarity": score(), "completeness": score(), "feasibility": score(), "specificity": score(),
                "questions": []
            })
            .to_string()
        }
        CallKind::Synthesis => format!(
            "[simulated] A combined answer to \"{}\", drawing on every part of the work.",
            summary(between(prompt, REQUEST_START, REQUEST_END).unwrap_or(prompt), 30)
        ),
        CallKind::Task => match &request.json_schema {
            Some(format) => example_for(&format.schema, dice).to_string(),
            None => task_text(task_instructions(prompt), dice),
        },
    };
    if !malformed {
        return text;
    }
    match request.kind {
        CallKind::Plan | CallKind::Judge | CallKind::Assess => {
            // Cut short mid-way, as a stream that stopped early would be.
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_owned()
        }
        CallKind::Task | CallKind::Synthesis => String::new(),
    }
}

/// The text between two markers, trimmed.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = from + text[from..].find(end)?;
    Some(text[from..to].trim())
}

/// The task's own instructions inside a task prompt (between the task markers), or
/// the whole prompt when it has none.
fn task_instructions(prompt: &str) -> &str {
    between(prompt, TASK_START, TASK_END).unwrap_or(prompt)
}

/// The user's request between the markers of a planning prompt.
fn find_request(request: &CompletionRequest) -> Option<&str> {
    request.messages.iter().rev().find_map(|m| {
        let start = m.content.find(REQUEST_START)? + REQUEST_START.len();
        let end = start + m.content[start..].find(REQUEST_END)?;
        Some(m.content[start..end].trim())
    })
}

fn task_text(prompt: &str, dice: &mut Dice) -> String {
    let openers = ["Here is", "This is", "Below is"];
    let opener = openers[dice.below(openers.len() as u64) as usize];
    format!(
        "[simulated] {opener} a considered response to the task \"{}\". It covers the main points, \
         gives one concrete example, and ends with a short conclusion.",
        summary(prompt, 16)
    )
}

/// The first `words` words of the text, on one line.
fn summary(text: &str, words: usize) -> String {
    let mut words_iter = text.split_whitespace();
    let head: Vec<&str> = words_iter.by_ref().take(words).collect();
    let ellipsis = if words_iter.next().is_some() {
        "…"
    } else {
        ""
    };
    format!("{}{ellipsis}", head.join(" "))
}

/// A plan for the request: one task per part, later parts after earlier ones.
fn plan(request: &str) -> Value {
    let parts = split_parts(request);
    let mut depends: Vec<Vec<usize>> = vec![Vec::new(); parts.len()];
    for index in 1..parts.len() {
        if is_sequel(&parts[index]) {
            depends[index].push(index - 1);
        }
    }
    // The last part brings the work together: it follows every part nothing follows.
    if parts.len() > 1 {
        let last = parts.len() - 1;
        for earlier in 0..last {
            let followed = depends.iter().any(|d| d.contains(&earlier));
            if !followed && !depends[last].contains(&earlier) {
                depends[last].push(earlier);
            }
        }
        depends[last].sort_unstable();
    }
    let tasks: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(index, part)| {
            json!({
                "id": format!("step_{}", index + 1),
                "title": summary(part, 6),
                "instructions": part,
                "depends_on": depends[index].iter().map(|d| format!("step_{}", d + 1)).collect::<Vec<_>>(),
                "capability": capability(part),
                "success_criteria": [format!("Addresses: {}", summary(part, 10))],
            })
        })
        .collect();
    json!({ "tasks": tasks })
}

/// Splits a request into its parts: the items of a list (one per line, or numbered
/// inline as `1) … 2) …`), each carrying the line that introduced the list; else its
/// lines, sentences, `;` clauses and "then" clauses, with fragments too short to be a
/// task joined to the part before.
pub(crate) fn split_parts(request: &str) -> Vec<String> {
    let mut parts = list_items(request)
        .or_else(|| inline_items(request))
        .unwrap_or_else(|| sentences(request));
    if parts.len() > MAX_PLAN_TASKS {
        let rest = parts.split_off(MAX_PLAN_TASKS - 1).join(" ");
        parts.push(rest);
    }
    if parts.is_empty() {
        parts.push(request.trim().to_owned());
    }
    parts
}

/// The items of a list written one per line (`- `, `* `, `• `, `1. `, `1) `), when
/// there are at least two; an introduction before the list is kept with each item.
fn list_items(request: &str) -> Option<Vec<String>> {
    let lines: Vec<&str> = request
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let first_item = lines
        .iter()
        .position(|line| strip_list_marker(line).is_some())?;
    let mut items: Vec<String> = Vec::new();
    for line in &lines[first_item..] {
        match (strip_list_marker(line), items.last_mut()) {
            (Some(item), _) => items.push(item),
            // A line under an item continues it.
            (None, Some(last)) => {
                last.push(' ');
                last.push_str(line);
            }
            (None, None) => {}
        }
    }
    (items.len() >= 2).then(|| with_introduction(&lines[..first_item].join(" "), items))
}

/// The items of a list numbered inline, `1) … 2) …`, `1. … 2. …` or `(1) … (2) …`,
/// numbered from 1 in order, when there are at least two.
fn inline_items(request: &str) -> Option<Vec<String>> {
    let text = request.trim();
    // (where the marker starts, where its item starts)
    let mut markers: Vec<(usize, usize)> = Vec::new();
    let mut from = 0;
    for number in 1..=MAX_INLINE_ITEMS {
        let found = [
            format!("{number}) "),
            format!("{number}. "),
            format!("({number}) "),
        ]
        .iter()
        .filter_map(|marker| find_marker(text, from, marker).map(|at| (at, at + marker.len())))
        .min();
        let Some((at, item_start)) = found else {
            break;
        };
        markers.push((at, item_start));
        from = item_start;
    }
    if markers.len() < 2 {
        return None;
    }
    let items = markers
        .iter()
        .enumerate()
        .map(|(index, &(_, item_start))| {
            let item_end = markers.get(index + 1).map_or(text.len(), |&(at, _)| at);
            text[item_start..item_end]
                .trim()
                .trim_end_matches([',', ';'])
                .trim_end_matches(" and")
                .trim()
                .to_owned()
        })
        .filter(|item| !item.is_empty())
        .collect::<Vec<_>>();
    (items.len() >= 2).then(|| with_introduction(&text[..markers[0].0], items))
}

/// The most items of an inline numbered list looked for.
const MAX_INLINE_ITEMS: usize = 50;

/// Where `marker` starts at or after `from`, at the start of the text or after a
/// space, `:` or `,` (so `21) ` is not taken for `1) `).
fn find_marker(text: &str, from: usize, marker: &str) -> Option<usize> {
    let mut search = from;
    while let Some(found) = text[search..].find(marker) {
        let at = search + found;
        let boundary = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == ':' || c == ',');
        if boundary {
            return Some(at);
        }
        search = at + marker.len();
    }
    None
}

/// Each item with the words that introduced the list, so a task such as "the
/// introduction" still says what it is the introduction of.
fn with_introduction(introduction: &str, items: Vec<String>) -> Vec<String> {
    let introduction = introduction.trim().trim_end_matches(':').trim();
    if introduction.is_empty() {
        return items;
    }
    items
        .into_iter()
        .map(|item| format!("{item} (part of: {introduction})"))
        .collect()
}

/// Lines, sentences, `;` clauses and "then" clauses, with fragments of fewer than
/// three words joined to the part before.
fn sentences(request: &str) -> Vec<String> {
    let mut text = request.to_owned();
    for joint in [", and then ", " and then ", ", then ", "; then "] {
        text = text.replace(joint, ". Then ");
    }
    // A `;` ends a part but, unlike "then", says nothing of order.
    text = text.replace("; ", ". ");
    let mut parts = Vec::new();
    let mut current = String::new();
    for (index, ch) in text.char_indices() {
        let rest = &text[index + ch.len_utf8()..];
        if ch == '\n' {
            parts.push(std::mem::take(&mut current));
            continue;
        }
        current.push(ch);
        if matches!(ch, '.' | '?' | '!')
            && (rest.is_empty() || rest.starts_with(char::is_whitespace))
        {
            parts.push(std::mem::take(&mut current));
        }
    }
    parts.push(current);
    let mut merged: Vec<String> = Vec::new();
    for part in parts.into_iter().map(|part| part.trim().to_owned()) {
        if part
            .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
            .is_empty()
        {
            continue;
        }
        match merged.last_mut() {
            Some(previous) if part.split_whitespace().count() < 3 => {
                previous.push(' ');
                previous.push_str(&part);
            }
            _ => merged.push(part),
        }
    }
    merged
}

fn strip_list_marker(line: &str) -> Option<String> {
    let rest = line
        .strip_prefix("- ")
        .or_else(|| line.strip_prefix("* "))
        .or_else(|| line.strip_prefix("• "))
        .or_else(|| {
            let digits = line.find(|c: char| !c.is_ascii_digit())?;
            if digits == 0 {
                return None;
            }
            line[digits..]
                .strip_prefix(". ")
                .or_else(|| line[digits..].strip_prefix(") "))
        })?;
    Some(rest.trim().to_owned())
}

fn is_sequel(part: &str) -> bool {
    let lower = part.to_lowercase();
    [
        "then",
        "finally",
        "next",
        "after",
        "afterwards",
        "using",
        "based on",
        "lastly",
        "and then",
    ]
    .iter()
    .any(|word| lower.starts_with(word))
        || [
            " it ",
            " it.",
            " them",
            " this ",
            " the result",
            " the post",
            " above",
        ]
        .iter()
        .any(|word| lower.contains(word))
}

fn capability(part: &str) -> &'static str {
    let lower = part.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["code", "implement", "function", "program", "script", "bug"]) {
        "coding"
    } else if has(&[
        "research",
        "find",
        "investigate",
        "history",
        "look up",
        "gather",
    ]) {
        "research"
    } else if has(&["extract", "list the", "pull out", "table"]) {
        "extraction"
    } else if has(&["write", "draft", "blog", "essay", "poem", "summar", "title"]) {
        "writing"
    } else if has(&["analy", "compare", "plan", "reason", "evaluate", "decide"]) {
        "reasoning"
    } else {
        "general"
    }
}

/// A value that satisfies simple JSON Schemas (objects with typed properties).
fn example_for(schema: &Value, dice: &mut Dice) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("object") | None if schema.get("properties").is_some() => {
            let mut object = serde_json::Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    object.insert(name.clone(), example_for(property, dice));
                }
            }
            Value::Object(object)
        }
        Some("object") => json!({}),
        Some("array") => {
            let item = schema
                .get("items")
                .map_or(json!("[simulated] item"), |s| example_for(s, dice));
            let count = schema
                .get("minItems")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .max(1);
            Value::Array(vec![item; count as usize])
        }
        Some("integer") => json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
        Some("number") => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0)),
        Some("boolean") => json!(dice.below(2) == 0),
        Some("null") => Value::Null,
        _ => match schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            Some(first) => first.clone(),
            None => json!("[simulated] value"),
        },
    }
}
