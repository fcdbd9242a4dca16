//! Malformed and hostile files get a clean error quickly: never a panic, a hang, a stack
//! overflow or unbounded memory. Both YAML paths are covered: playbooks (the position-keeping
//! tree) and `yaml::from_str` (serde_yaml, used for config and scenarios).

use std::time::{Duration, Instant};

use fleetlr_playbook::{Catalogue, MAX_DIAGNOSTICS, Problems, yaml};

/// Generous for a debug build on a busy machine; real runs take milliseconds.
const QUICK: Duration = Duration::from_secs(5);

fn load(text: &str) -> Problems {
    let started = Instant::now();
    let result = fleetlr_playbook::load("hostile.yaml", text, &Catalogue::new("scripts"));
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    result.expect_err("hostile input must be refused")
}

fn first_message(problems: &Problems) -> &str {
    &problems.diagnostics[0].message
}

fn any_message(problems: &Problems, needle: &str) -> bool {
    problems
        .diagnostics
        .iter()
        .any(|d| d.message.contains(needle))
}

fn serde_path(text: &str) -> String {
    let started = Instant::now();
    let result = yaml::from_str::<serde_yaml::Value>("hostile.yaml", text);
    assert!(started.elapsed() < QUICK, "took {:?}", started.elapsed());
    result.expect_err("hostile input must be refused").message
}

#[test]
fn deep_flow_nesting() {
    let text = format!("name: {}", "[".repeat(200_000));
    // saphyr has its own, lower limit on flow nesting; either refusal is clean.
    let problems = load(&text);
    assert!(
        any_message(&problems, "nested deeper") || any_message(&problems, "recursion limit"),
        "{problems}"
    );
    assert!(!serde_path(&text).is_empty());
}

#[test]
fn deep_block_nesting() {
    let text: String = (0..1_000)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    assert!(first_message(&load(&text)).contains("nested deeper"));
    assert!(
        serde_path(&text).contains("nested deeper"),
        "{}",
        serde_path(&text)
    );
}

#[test]
fn deep_sequence_nesting() {
    let text = format!("steps:\n{}x\n", "- ".repeat(100_000));
    assert!(first_message(&load(&text)).contains("nested deeper"));
}

#[test]
fn billion_laughs() {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut prev = 'a';
    for name in 'b'..='i' {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
        prev = name;
    }
    assert!(first_message(&load(&text)).contains("anchors"));
    let message = serde_path(&text);
    assert!(message.contains("repetition limit"), "{message}");
}

#[test]
fn huge_scalars() {
    let text = format!("name: {}\n", "a".repeat(1_000_000));
    assert!(any_message(&load(&text), "not a valid name"));
    let over = format!("name: {}\n", "a".repeat(2_000_000));
    assert!(first_message(&load(&over)).contains("more than"));
    assert!(serde_path(&"a".repeat(yaml::MAX_DOCUMENT_BYTES + 1)).contains("more than"));
}

#[test]
fn huge_template_with_many_errors_is_capped() {
    let args = "{{ nope }}".repeat(80_000);
    let text = format!("name: x\ndescription: x\nsteps:\n  - get_file: '/{args}'\n");
    let problems = load(&text);
    assert_eq!(problems.diagnostics.len(), MAX_DIAGNOSTICS);
    assert!(problems.dropped > 0);
    assert!(problems.to_string().ends_with("more problems not shown"));
}

#[test]
fn too_many_values() {
    let text = format!("x: [{}]\n", "1,".repeat(400_000));
    assert!(
        first_message(&load(&text)).contains("more than"),
        "{}",
        load(&text)
    );
}

#[test]
fn binary_junk() {
    // A fixed xorshift stream: reproducible junk without a dependency.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..300 {
        let len = (next() % 4096) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        match fleetlr_playbook::decode_text("junk.bin", &bytes) {
            Err(problems) => assert!(first_message(&problems).contains("UTF-8")),
            Ok(text) => drop(load(text)),
        }
        // The same junk as valid UTF-8 text reaches the YAML parser itself.
        let text = String::from_utf8_lossy(&bytes);
        if round % 3 == 0 {
            let _ = yaml::from_str::<serde_yaml::Value>("junk", &text);
        }
        let _ = fleetlr_playbook::load("junk", &text, &Catalogue::new("scripts"));
    }
}

#[test]
fn invalid_utf8_position() {
    let problems =
        fleetlr_playbook::decode_text("f.yaml", b"name: x\ndesc: a\xffb\n").expect_err("invalid");
    assert_eq!(
        (
            problems.diagnostics[0].pos.line,
            problems.diagnostics[0].pos.column
        ),
        (2, 8)
    );
}
