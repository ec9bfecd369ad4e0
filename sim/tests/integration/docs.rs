//! The README's and `docs/`'s commands, run: documentation that cannot drift from the code.
//!
//! Every `console` block of a page runs, command by command (`$ ` lines), through bash in one
//! scratch directory per page (the catalog linked in as `scenarios`, so paths read as they would
//! in a checkout), with `cargo faultline` meaning the binary under test. The lines shown under a
//! command must be its output (stdout and stderr as a terminal interleaves them): `...` stands
//! for any number of lines, `[..]` for any text within a line, and a last line `(exit N)` for
//! the exit code (0 otherwise). Any other shell block must be marked `sh illustrative`: a
//! command nobody runs is said to be one.

use std::path::{Path, PathBuf};

/// The pages: the README and every file under docs/.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

#[derive(Debug)]
struct Example {
    line: usize,
    command: String,
    expected: Vec<String>,
    exit: i32,
}

/// The commands of a page's `console` blocks; panics on a shell block marked neither way.
fn examples(page: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut examples: Vec<Example> = Vec::new();
    let mut fence: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if let Some(info) = line.trim_start().strip_prefix("```") {
            match fence {
                Some(_) => fence = None,
                None => {
                    let info = info.trim().to_string();
                    let language = info.split_whitespace().next().unwrap_or("");
                    let shell = matches!(language, "sh" | "bash" | "shell" | "zsh");
                    assert!(
                        !shell || info.split_whitespace().any(|word| word == "illustrative"),
                        "{}:{number}: a shell block is `console` (run by this test) or `sh illustrative`",
                        page.display()
                    );
                    fence = Some(info);
                }
            }
            continue;
        }
        if fence.as_deref() != Some("console") {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            examples.push(Example { line: number, command: command.to_string(), expected: Vec::new(), exit: 0 });
        } else if let Some(example) = examples.last_mut() {
            match line.strip_prefix("(exit ").and_then(|rest| rest.strip_suffix(')')) {
                Some(code) => example.exit = code.parse().expect("(exit N) takes a number"),
                None => example.expected.push(line.to_string()),
            }
        } else {
            panic!("{}:{number}: output before the first `$ ` command", page.display());
        }
    }
    examples
}

/// One line against one pattern: `[..]` matches any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let pieces: Vec<&str> = pattern.split("[..]").collect();
    if pieces.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (pieces[0], pieces[pieces.len() - 1]);
    if !line.starts_with(first) || !line[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for piece in &pieces[1..pieces.len() - 1] {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    true
}

/// The whole output against the expected lines: `...` matches any number of lines.
fn output_matches(expected: &[String], output: &[&str]) -> bool {
    match expected.split_first() {
        None => output.is_empty(),
        Some((first, rest)) if first == "..." => (0..=output.len()).any(|skip| output_matches(rest, &output[skip..])),
        Some((first, rest)) => {
            output.first().is_some_and(|line| line_matches(first, line)) && output_matches(rest, &output[1..])
        }
    }
}

fn run_page(page: &Path) -> usize {
    let examples = examples(page);
    if examples.is_empty() {
        return 0;
    }
    let scratch = std::env::temp_dir().join(format!(
        "faultline-docs-{}-{}",
        std::process::id(),
        page.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::remove_dir_all(&scratch).ok();
    std::fs::create_dir_all(&scratch).unwrap();
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios").canonicalize().unwrap();
    std::os::unix::fs::symlink(&catalog, scratch.join("scenarios")).unwrap();
    // `cargo faultline` is a cargo alias that builds the binary; here it is the binary built.
    let prelude =
        r#"cargo() { if [ "$1" = faultline ]; then shift; "$FAULTLINE_BIN" "$@"; else command cargo "$@"; fi; }"#;
    for example in &examples {
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{prelude}\n{} 2>&1", example.command))
            .current_dir(&scratch)
            .env("FAULTLINE_BIN", env!("CARGO_BIN_EXE_faultline"))
            .env("FAULTLINE_WORKER", env!("CARGO_BIN_EXE_faultline"))
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
        let expected: Vec<String> = example.expected.iter().map(|l| l.trim_end().to_string()).collect();
        let context = format!("{}:{}: $ {}", page.display(), example.line, example.command);
        assert_eq!(output.status.code(), Some(example.exit), "{context}: exit code\n{text}");
        assert!(
            output_matches(&expected, &lines),
            "{context}: output differs from the page\n--- page:\n{}\n--- output:\n{text}",
            expected.join("\n")
        );
    }
    std::fs::remove_dir_all(&scratch).ok();
    examples.len()
}

#[test]
fn every_console_block_of_the_readme_and_docs_runs_as_shown() {
    let mut ran = 0;
    for page in pages() {
        ran += run_page(&page);
    }
    // The README's tour alone is more than this: a parser that found nothing must not pass.
    assert!(ran >= 6, "only {ran} commands found in console blocks");
}

#[test]
fn the_matcher_takes_wildcards_and_skips_and_nothing_else() {
    let expected = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(output_matches(&expected(&["a [..] c", "...", "z"]), &["a b c", "x", "y", "z"]));
    assert!(output_matches(&expected(&["...", "z"]), &["z"]));
    assert!(!output_matches(&expected(&["a", "z"]), &["a", "x", "z"]), "a gap needs `...`");
    assert!(!output_matches(&expected(&["a [..] c"]), &["a b d"]));
    assert!(!output_matches(&expected(&["a"]), &["a", "extra"]), "trailing output needs `...`");
    assert!(line_matches("[..]s wall[..]PASS", "  12.1 s wall  PASS"));
    assert!(!line_matches("ab[..]ba", "aba"), "the prefix and suffix may not overlap");
}
