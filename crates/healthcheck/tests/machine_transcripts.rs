//! Transcript tests for the rise/fall machine: each file in `testdata/machine/` lists
//! events with their times and the phase, next delay, state change and downtime
//! expected after each. Adding a case means adding lines, not code.

use std::path::Path;
use std::time::{Duration, Instant};

use healthcheck::{CheckTiming, HealthMachine, HealthState, InitialState, OnError, Phase};

fn secs(text: &str, what: &str, line: usize) -> Duration {
    let n: u64 = text
        .parse()
        .unwrap_or_else(|_| panic!("line {line}: {what} {text:?} is not a number of seconds"));
    Duration::from_secs(n)
}

fn config(line: &str, no: usize) -> (CheckTiming, InitialState) {
    let mut timing = CheckTiming::default();
    let mut initial = InitialState::default();
    for pair in line.split_whitespace().skip(1) {
        let (key, value) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("line {no}: {pair:?} is not key=value"));
        match key {
            "rise" => timing.rise = value.parse().expect("rise"),
            "fall" => timing.fall = value.parse().expect("fall"),
            "inter" => timing.inter = secs(value, key, no),
            "fastinter" => timing.fastinter = Some(secs(value, key, no)),
            "downinter" => timing.downinter = Some(secs(value, key, no)),
            "initial" => {
                initial = match value {
                    "fully-up" => InitialState::FullyUp,
                    "up" => InitialState::Up,
                    "down" => InitialState::Down,
                    "fully-down" => InitialState::FullyDown,
                    other => panic!("line {no}: initial {other:?}"),
                }
            }
            other => panic!("line {no}: unknown setting {other:?}"),
        }
    }
    (timing, initial)
}

fn phase(name: &str, no: usize) -> Phase {
    match name {
        "up" => Phase::Up,
        "going-down" => Phase::GoingDown,
        "down" => Phase::Down,
        "going-up" => Phase::GoingUp,
        other => panic!("line {no}: unknown phase {other:?}"),
    }
}

fn state(name: &str, no: usize) -> HealthState {
    match name {
        "up" => HealthState::Up,
        "down" => HealthState::Down,
        other => panic!("line {no}: unknown state {other:?}"),
    }
}

fn run_transcript(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read transcript");
    let name = path.display();
    let t0 = Instant::now();
    let mut machine: Option<HealthMachine> = None;
    for (index, raw) in text.lines().enumerate() {
        let no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with("config") {
            let (timing, initial) = config(line, no);
            machine = Some(HealthMachine::new(timing, initial, t0).expect("valid config"));
            continue;
        }
        let m = machine
            .as_mut()
            .unwrap_or_else(|| panic!("{name}:{no}: event before config"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert!(
            cols.len() >= 4,
            "{name}:{no}: want time, event, phase, delay"
        );
        let now = t0 + secs(cols[0], "time", no);
        let transition = match cols[1] {
            "pass" => m.record(now, true),
            "fail" => m.record(now, false),
            "agent:down" => m.set_agent_down(now, true),
            "agent:up" => m.set_agent_down(now, false),
            event => {
                let action = match event.strip_prefix("on-error:") {
                    Some("fastinter") => OnError::Fastinter,
                    Some("fail-check") => OnError::FailCheck,
                    Some("sudden-death") => OnError::SuddenDeath,
                    Some("mark-down") => OnError::MarkDown,
                    _ => panic!("{name}:{no}: unknown event {event:?}"),
                };
                m.apply_on_error(now, action)
            }
        };
        assert_eq!(m.phase(), phase(cols[2], no), "{name}:{no}: phase");
        assert_eq!(
            m.next_delay(),
            secs(cols[3], "delay", no),
            "{name}:{no}: delay"
        );
        let mut expected_change = None;
        for extra in &cols[4..] {
            if let Some(change) = extra.strip_prefix("change=") {
                let (from, to) = change
                    .split_once("->")
                    .unwrap_or_else(|| panic!("{name}:{no}: change=FROM->TO"));
                expected_change = Some((state(from, no), state(to, no)));
            } else if let Some(d) = extra.strip_prefix("downtime=") {
                assert_eq!(
                    m.total_downtime(now),
                    secs(d, "downtime", no),
                    "{name}:{no}: downtime"
                );
            } else {
                panic!("{name}:{no}: unknown column {extra:?}");
            }
        }
        assert_eq!(
            transition.map(|t| (t.from, t.to)),
            expected_change,
            "{name}:{no}: state change"
        );
        if transition.is_some() {
            assert_eq!(m.last_change(), now, "{name}:{no}: last change time");
        }
    }
}

#[test]
fn machine_transcripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/machine");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "transcripts missing from {}",
        dir.display()
    );
    for file in files {
        run_transcript(&file);
    }
}
