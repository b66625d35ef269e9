//! Accuracy of the user-agent parser against corpora written by others: the uap-core test files
//! (expected uap-core families) and ua-parser-js 1.0.41's output over the same user agents
//! (`tests/data/ua-parser-js-1.0.41.tsv.gz`); with `--corpus2`, also ua-parser-js 1.0.41's output over a
//! second corpus independent of uap-core (Matomo Device Detector's fixtures, folder made by
//! `scripts/ua_corpus2.sh --fixtures-only`; expected results made by `scripts/ua_corpus2.sh`). Prints one
//! table per corpus; `scripts/ua-accuracy.sh` runs it.
//!
//! Usage: ua_accuracy <regexes.yaml> <uap-core dir> [--corpus2 <fixtures dir> <expected.tsv.gz>]
//!        [--diff FIELD [N]] [--families] [--dump FILE]

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use smartauth_context::ua::{UserAgentInfo, UserAgentParser};

#[derive(Deserialize)]
struct Cases {
    test_cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    user_agent_string: String,
    family: Option<String>,
    brand: Option<String>,
    model: Option<String>,
}

/// One case of Matomo Device Detector's fixtures: only the user agent is read (serde skips the rest).
#[derive(Deserialize)]
struct MatomoCase {
    user_agent: String,
}

/// What uap-core expects for a case, and what the parser found.
type Expected<'a> = dyn Fn(&Case) -> (Option<String>, Option<String>) + 'a;

struct Tally {
    agree: usize,
    total: usize,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: ua_accuracy <regexes.yaml> <uap-core dir> [--corpus2 <fixtures dir> <expected.tsv.gz>] [--diff FIELD [N]]"
        );
        std::process::exit(2);
    }
    let parser = UserAgentParser::load(args[1].as_ref()).expect("regexes.yaml loads");
    let dir = Path::new(&args[2]).join("tests");

    let load = |name: &str| -> Vec<Case> {
        let text = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        serde_yaml::from_slice::<Cases>(&text).unwrap_or_else(|e| panic!("{name}: {e}")).test_cases
    };
    let (ua_cases, os_cases, device_cases) = (load("test_ua.yaml"), load("test_os.yaml"), load("test_device.yaml"));

    // 1. uap-core's own expectations, on what our parser extracted before renaming.
    println!("## Against uap-core 0.18.0's expected results (the regexes as run by the ua-parser crate)\n");
    println!("| field | cases | agree | rate |\n|---|---|---|---|");
    let row = |field: &str, cases: &[Case], get: &Expected| {
        let t = cases.iter().fold(Tally { agree: 0, total: 0 }, |mut t, c| {
            let (want, got) = get(c);
            t.total += 1;
            t.agree += usize::from(want.unwrap_or_else(|| "Other".into()) == got.unwrap_or_else(|| "Other".into()));
            t
        });
        println!("| {field} | {} | {} | {:.2}% |", t.total, t.agree, 100.0 * t.agree as f64 / t.total as f64);
    };
    row("browser family (test_ua.yaml)", &ua_cases, &|c| (c.family.clone(), Some(parser.raw(&c.user_agent_string).0)));
    row("OS family (test_os.yaml)", &os_cases, &|c| (c.family.clone(), Some(parser.raw(&c.user_agent_string).1)));
    row("device family (test_device.yaml)", &device_cases, &|c| {
        (c.family.clone(), Some(parser.raw(&c.user_agent_string).2))
    });
    row("device brand (test_device.yaml)", &device_cases, &|c| (c.brand.clone(), parser.raw(&c.user_agent_string).3));
    row("device model (test_device.yaml)", &device_cases, &|c| (c.model.clone(), parser.raw(&c.user_agent_string).4));

    // 2. ua-parser-js 1.0.41 over the same distinct user agents.
    let mut seen = std::collections::HashSet::new();
    let uas: Vec<&str> = ua_cases
        .iter()
        .chain(&os_cases)
        .chain(&device_cases)
        .map(|c| c.user_agent_string.as_str())
        .filter(|ua| seen.insert(*ua))
        .collect();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ua-parser-js-1.0.41.tsv.gz");
    against_ua_parser_js(
        &parser,
        path.as_ref(),
        &uas,
        &args,
        &|n: usize| format!("the same {n} distinct user agents"),
        "",
    );

    // 3. A second corpus, independent of uap-core: Matomo Device Detector's fixtures (the TSV holds a
    // sample of them: the agents it has no row for are skipped).
    if let Some(i) = args.iter().position(|a| a == "--corpus2") {
        let (Some(fixtures), Some(tsv)) = (args.get(i + 1), args.get(i + 2)) else {
            eprintln!("--corpus2 needs <fixtures dir> <expected.tsv.gz>");
            std::process::exit(2);
        };
        let agents = matomo_agents(fixtures.as_ref());
        let uas: Vec<&str> = agents.iter().map(String::as_str).collect();
        against_ua_parser_js(
            &parser,
            tsv.as_ref(),
            &uas,
            &args,
            &|n: usize| format!("{n} distinct user agents of Matomo Device Detector's fixtures (second corpus)"),
            ".corpus2",
        );
    }
}

/// Distinct user agents of Matomo Device Detector's fixture files (`*.yml` in `dir`, each a list of
/// cases with a `user_agent`), in first-seen order over the files sorted by name.
fn matomo_agents(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run: bash scripts/ua_corpus2.sh --fixtures-only)", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .yml files in {}", dir.display());
    let mut seen = std::collections::HashSet::new();
    let mut agents = Vec::new();
    for file in files {
        let text = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let cases: Vec<MatomoCase> =
            serde_yaml::from_slice(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for case in cases {
            if seen.insert(case.user_agent.clone()) {
                agents.push(case.user_agent);
            }
        }
    }
    agents
}

/// Compares the parser with ua-parser-js's answers in `tsv` (rows keyed by the first 16 hex digits of
/// the SHA-256 of the user agent) over `uas`, skipping agents the file has no row for, and prints
/// the table (and the `--diff`, `--families`, `--dump` extras; the dump file gets `dump_suffix`).
fn against_ua_parser_js(
    parser: &UserAgentParser,
    tsv: &Path,
    uas: &[&str],
    args: &[String],
    title: &dyn Fn(usize) -> String,
    dump_suffix: &str,
) {
    let diff_field = args.iter().position(|a| a == "--diff").and_then(|i| args.get(i + 1)).cloned();
    let diff_n: usize = args
        .iter()
        .position(|a| a == "--diff")
        .and_then(|i| args.get(i + 2))
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let mut gz = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(tsv).unwrap_or_else(|e| panic!("{}: {e}", tsv.display())))
        .read_to_end(&mut gz)
        .expect("gzip");
    let text = String::from_utf8(gz).expect("utf-8");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let expected: HashMap<&str, Vec<&str>> = lines
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols[0], cols[1..].to_vec())
        })
        .collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect("column") - 1;

    type Get = fn(&UserAgentInfo) -> Option<&str>;
    let fields: [(&str, &str, Get); 10] = [
        ("browser name", "browser_name", |i| i.browser.name.as_deref()),
        ("browser major", "browser_major", |i| i.browser.major.as_deref()),
        ("browser version", "browser_version", |i| i.browser.version.as_deref()),
        ("engine", "engine_name", |i| i.engine.name.as_deref()),
        ("OS name", "os_name", |i| i.os.name.as_deref()),
        ("OS version", "os_version", |i| i.os.version.as_deref()),
        ("device vendor", "device_vendor", |i| i.device.vendor.as_deref()),
        ("device model", "device_model", |i| i.device.model.as_deref()),
        ("device type", "device_type", |i| i.device.kind.as_deref()),
        ("CPU", "cpu_architecture", |i| i.cpu.architecture.as_deref()),
    ];
    let families = args.iter().any(|a| a == "--families");
    let mut by_family: HashMap<(String, String), usize> = HashMap::new();
    let mut dump = args
        .iter()
        .position(|a| a == "--dump")
        .and_then(|i| args.get(i + 1))
        .map(|p| std::fs::File::create(format!("{p}{dump_suffix}")).expect("dump file"));
    let mut agree = [0usize; 10];
    let mut total = 0usize;
    let mut diffs: HashMap<(String, String), (usize, String)> = HashMap::new();
    for ua in uas {
        let key = hex::encode(&Sha256::digest(ua.as_bytes())[..8]);
        let Some(want) = expected.get(key.as_str()) else { continue };
        total += 1;
        let got = parser.parse_uncached(ua);
        if let Some(out) = dump.as_mut() {
            use std::io::Write;
            let raw = parser.raw(ua);
            let ours: Vec<&str> = fields.iter().map(|(_, _, get)| get(&got).unwrap_or("")).collect();
            let theirs: Vec<&str> = fields.iter().map(|(_, column, _)| want[col(column)]).collect();
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}",
                ua.replace('\t', " "),
                raw.0,
                raw.1,
                raw.3.unwrap_or_default(),
                ours.join("\t"),
                theirs.join("\t")
            )
            .unwrap();
        }
        if families {
            let b = want[col("browser_name")].to_owned();
            let o = want[col("os_name")].to_owned();
            let raw = parser.raw(ua);
            *by_family.entry((format!("B {}", raw.0), b)).or_default() += 1;
            *by_family.entry((format!("O {}", raw.1), o)).or_default() += 1;
        }
        for (i, (name, column, get)) in fields.iter().enumerate() {
            let w = want[col(column)];
            let g = get(&got).unwrap_or("");
            if w == g {
                agree[i] += 1;
            } else if diff_field.as_deref() == Some(*name) {
                let e = diffs.entry((w.to_owned(), g.to_owned())).or_insert((0, ua.to_string()));
                e.0 += 1;
            }
        }
    }
    println!("\n## Against ua-parser-js 1.0.41 over {}\n", title(total));
    println!("| field | agree | rate |\n|---|---|---|");
    for (i, (name, _, _)) in fields.iter().enumerate() {
        println!("| {name} | {} | {:.2}% |", agree[i], 100.0 * agree[i] as f64 / total as f64);
    }
    if families {
        let mut list: Vec<_> = by_family.into_iter().collect();
        list.sort();
        for ((fam, name), n) in list {
            println!("{fam}\t{name}\t{n}");
        }
    }
    if !diffs.is_empty() {
        let mut list: Vec<_> = diffs.into_iter().collect();
        list.sort_by_key(|entry| std::cmp::Reverse(entry.1 .0));
        println!("\nmost frequent differences (ua-parser-js → ours, count, example):");
        for ((w, g), (n, example)) in list.into_iter().take(diff_n) {
            println!("{n:5}  {w:?} → {g:?}   {example}");
        }
    }
}
