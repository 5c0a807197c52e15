//! The OASIS OData ABNF test cases (../shared/odata/odata-abnf-testcases.yaml) whose rule
//! belongs to the query options: accepted inputs must parse, inputs with `FailAt` must be
//! refused. Exclusions are listed with their reason, and still run.

use portcullis_odata::rules::parse_rule;
use std::path::PathBuf;

struct Case {
    name: String,
    rule: String,
    input: String,
    fail_at: Option<usize>,
}

/// Reads one YAML scalar that starts at `first` and may continue on `more` lines (more
/// indented than the key). Handles plain, single-quoted and double-quoted scalars, which is
/// all the file uses; a literal tab in a plain scalar (which strict parsers reject) is kept.
fn yaml_scalar(first: &str, more: &[&str]) -> String {
    // A scalar may start on the line after its key.
    let (first, more) = match (first.trim().is_empty(), more.split_first()) {
        (true, Some((head, tail))) => (*head, tail),
        _ => (first, more),
    };
    let first = first.trim_start();
    match first.chars().next() {
        Some('"') => {
            // Fold lines (a newline becomes a space, an empty line a newline; a trailing `\`
            // escapes the line break), then process escapes.
            let mut folded = String::new();
            let mut lines = std::iter::once(&first[1..])
                .chain(more.iter().copied())
                .peekable();
            while let Some(line) = lines.next() {
                let line = line.trim_start();
                let body = line.trim_end();
                if lines.peek().is_none() {
                    folded.push_str(body);
                    break;
                }
                if body.is_empty() {
                    folded.push('\n');
                } else if let Some(stripped) = body.strip_suffix('\\') {
                    folded.push_str(stripped);
                    folded.push('\u{0}');
                } else {
                    folded.push_str(body);
                    folded.push(' ');
                }
            }
            let body = folded.trim_end().strip_suffix('"').unwrap_or(&folded);
            let mut out = String::new();
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                if c == '\u{0}' {
                    continue;
                }
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('\u{0}') => {}
                    Some(other) => out.push(other),
                    None => {}
                }
            }
            out
        }
        Some('\'') => {
            let mut joined = first[1..].trim_end().to_string();
            for line in more {
                joined.push(' ');
                joined.push_str(line.trim());
            }
            joined
                .strip_suffix('\'')
                .unwrap_or(&joined)
                .replace("''", "'")
        }
        _ => {
            let mut joined = first.trim_end_matches([' ', '\r']).to_string();
            for line in more {
                joined.push(' ');
                joined.push_str(line.trim());
            }
            joined
        }
    }
}

fn load_cases() -> Vec<Case> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/odata/odata-abnf-testcases.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (../shared must sit beside the checkout)",
            path.display()
        )
    });
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("TestCases:"))
        .expect("TestCases");
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    let mut i = start + 1;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some(name) = trimmed.strip_prefix("- Name:") {
            cases.extend(current.take());
            current = Some(Case {
                name: yaml_scalar(name, &[]),
                rule: String::new(),
                input: String::new(),
                fail_at: None,
            });
        } else if let (Some(case), Some((key, value))) = (current.as_mut(), trimmed.split_once(':'))
        {
            let indent = line.len() - trimmed.len();
            // Continuation lines are more indented than the key.
            let mut j = i + 1;
            while j < lines.len() {
                let next = lines[j];
                let next_indent = next.len() - next.trim_start().len();
                if (!next.trim().is_empty() && next_indent > indent)
                    || (next.trim().is_empty() && j + 1 < lines.len() && {
                        let after = lines[j + 1];
                        after.len() - after.trim_start().len() > indent && !after.trim().is_empty()
                    })
                {
                    j += 1;
                } else {
                    break;
                }
            }
            let more = &lines[i + 1..j];
            match key {
                "Rule" => case.rule = yaml_scalar(value, more),
                "Input" => case.input = yaml_scalar(value, more),
                "FailAt" => case.fail_at = value.trim().parse().ok(),
                _ => {}
            }
            i = j - 1;
        }
        i += 1;
    }
    cases.extend(current);
    cases
}

/// Cases this gateway answers differently on purpose, by name and input. Each still runs; the
/// outcome written here (`true`: accepted) must hold.
const EXCLUSIONS: &[(&str, bool, &str)] = &[
    (
        "$search=more&more",
        true,
        "negative only because `more` is not a custom option name in the suite's model (Constraints: customName)",
    ),
    (
        "$skiptoken=Not&this",
        true,
        "negative only because `this` is not a custom option name in the suite's model",
    ),
    (
        "Model.Available",
        true,
        "negative only because the model makes `Available` a function (needs parentheses); a schema-less parser reads a type cast",
    ),
    (
        "$format=json&$Format=atom&$format=xml&$format=text/html",
        false,
        "the ABNF allows repeating $format; the protocol forbids duplicate system options (NOTES.md)",
    ),
    (
        "$format=JSON&$format=Atom&$format=XML&$format=text/html",
        false,
        "the ABNF allows repeating $format; the protocol forbids duplicate system options (NOTES.md)",
    ),
];

#[test]
fn oasis_abnf_cases_for_query_options() {
    let cases = load_cases();
    assert!(cases.len() >= 650, "read only {} cases", cases.len());
    let (mut run, mut passed, mut not_applicable, mut position_matches, mut negatives) =
        (0, 0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut excluded = 0;
    for case in &cases {
        let Some(result) = parse_rule(&case.rule, &case.input) else {
            not_applicable += 1;
            continue;
        };
        run += 1;
        if let Some((_, ours, reason)) =
            EXCLUSIONS.iter().find(|(input, _, _)| *input == case.input)
        {
            assert_eq!(
                result.is_ok(),
                *ours,
                "excluded case {:?}: {reason}",
                case.input
            );
            excluded += 1;
            continue;
        }
        match (case.fail_at, &result) {
            (None, Ok(())) => passed += 1,
            (Some(at), Err(e)) => {
                passed += 1;
                negatives += 1;
                if e.position == at {
                    position_matches += 1;
                }
            }
            (None, Err(e)) => failures.push(format!(
                "{} [{}] {:?}: refused: {e}",
                case.name, case.rule, case.input
            )),
            (Some(at), Ok(())) => failures.push(format!(
                "{} [{}] {:?}: accepted, expected failure at {at}",
                case.name, case.rule, case.input
            )),
        }
    }
    println!(
        "OData ABNF cases: {} in the file, {not_applicable} not query-option rules, {run} run: {passed} passed, {} failed, {excluded} excluded with reasons; {position_matches}/{negatives} refusals at exactly the FailAt position",
        cases.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
