//! Benchmark: 10,000 TCP-check targets on loopback, inter 1 s, for 30 s.
//!
//! Run with `cargo run --release -p healthcheck --example tcp_10k` (add
//! `-- --targets N --seconds S --inter-ms M --ports P --cap C --slack-ms L` to change the
//! defaults (L is the monitor's timer slack, default 8 ms), and
//! `--mode half-open` to check with one SYN from a raw socket instead of a full
//! connect; that mode needs root or CAP_NET_RAW).
//!
//! The listeners run in a child process (this same program with `--serve`) so that
//! the CPU figure is the checker's alone. Every second it prints the checker's CPU use
//! (from /proc/self/stat, user + system) and its open descriptors (/proc/self/fd), then a
//! summary: CPU as a percent of one core, and the descriptor count's range.
//! `benches/compare/healthcheck-vs-haproxy.sh` (at the workspace root) runs this and the same job through HAProxy; figures
//! measured are in `benches/compare/healthcheck-vs-haproxy.md`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use healthcheck::probe::{HalfOpenSpec, TcpSpec};
use healthcheck::{
    CheckSpec, CheckTiming, Monitor, MonitorConfig, MonitorTotals, TargetSpec, Timeouts,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Full TCP connect, reset at once (the default, as HAProxy's connect-only check).
    Connect,
    /// One SYN from a raw socket; SYN-ACK or RST is the answer.
    HalfOpen,
}

struct Options {
    mode: Mode,
    targets: usize,
    seconds: u64,
    inter_ms: u64,
    ports: usize,
    cap: usize,
    slack_ms: u64,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut o = Options {
        mode: Mode::Connect,
        targets: 10_000,
        seconds: 30,
        inter_ms: 1000,
        ports: 16,
        cap: 1024,
        slack_ms: MonitorConfig::default().timer_slack.as_millis() as u64,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        if flag == "--mode" {
            o.mode = match value.as_str() {
                "connect" => Mode::Connect,
                "half-open" => Mode::HalfOpen,
                other => bail!("--mode {other}: want connect or half-open"),
            };
            continue;
        }
        let n: u64 = value
            .parse()
            .with_context(|| format!("{flag} {value}: not a number"))?;
        match flag.as_str() {
            "--targets" => o.targets = n as usize,
            "--seconds" => o.seconds = n,
            "--inter-ms" => o.inter_ms = n,
            "--ports" => o.ports = n as usize,
            "--cap" => o.cap = n as usize,
            "--slack-ms" => o.slack_ms = n,
            other => bail!("unknown option {other}"),
        }
    }
    if o.targets == 0 || o.ports == 0 || o.inter_ms == 0 || o.cap == 0 {
        bail!("counts and intervals must be positive");
    }
    Ok(o)
}

/// Kills the listener process when the benchmark ends, also on error.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Child mode: listen on `ports` loopback ports, accept and drop everything.
fn serve(ports: usize) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut addrs = Vec::new();
        for _ in 0..ports {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind("127.0.0.1:0".parse()?)?;
            let listener = socket.listen(4096)?;
            addrs.push(listener.local_addr()?.to_string());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    drop(stream);
                }
            });
        }
        let mut out = std::io::stdout();
        writeln!(out, "{}", addrs.join(" "))?;
        out.flush()?;
        // Runs until the parent kills it; stdin closing also ends it.
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await?;
        Ok(())
    })
}

fn cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at "state" (field 3);
    // utime and stime are fields 14 and 15.
    let after = stat.rsplit(')').next().context("odd /proc/self/stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("utime")?.parse()?;
    let stime: u64 = fields.get(12).context("stime")?.parse()?;
    let hz = rustix::param::clock_ticks_per_second() as f64;
    Ok((utime + stime) as f64 / hz)
}

fn open_fds() -> Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

/// CPU seconds per connection for the simplest possible checker: a blocking loop of
/// connect and close. Kernel work for both ends of a loopback handshake is charged to
/// the connecting process, so this is the floor any TCP checker pays here.
fn connect_floor(addrs: &[SocketAddr], connects: usize) -> Result<f64> {
    let before = cpu_seconds()?;
    for i in 0..connects {
        let stream = std::net::TcpStream::connect(addrs[i % addrs.len()])?;
        socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    }
    Ok((cpu_seconds()? - before) / connects as f64)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--serve") {
        let ports = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(16);
        return serve(ports);
    }
    let o = parse_options(&args)?;
    let mut child = ServerProcess(
        Command::new(std::env::current_exe()?)
            .args(["--serve", &o.ports.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().context("child stdout")?).read_line(&mut line)?;
    let addrs: Vec<SocketAddr> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    if addrs.len() != o.ports {
        bail!(
            "listener process gave {} addresses, wanted {}",
            addrs.len(),
            o.ports
        );
    }

    let baseline = connect_floor(&addrs, 20_000)?;
    println!(
        "baseline: blocking connect + RST close in a plain loop costs {:.1} µs CPU per connect",
        baseline * 1e6
    );

    // One thread: the checker's work is tiny per check and a single-threaded runtime
    // avoids cross-thread wake-ups.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let baseline = baseline;
        let (monitor, mut changes) = Monitor::new(MonitorConfig {
            max_concurrent_checks: o.cap,
            spread_checks_percent: 5,
            seed: 1,
            timer_slack: Duration::from_millis(o.slack_ms),
        });
        let check = match o.mode {
            Mode::Connect => CheckSpec::Tcp(TcpSpec::default()),
            Mode::HalfOpen => CheckSpec::HalfOpen(HalfOpenSpec::default()),
        }
        .build()?;
        let timing = CheckTiming {
            inter: Duration::from_millis(o.inter_ms),
            ..CheckTiming::default()
        };
        for i in 0..o.targets {
            let mut spec = TargetSpec::new(addrs[i % addrs.len()], check.clone());
            spec.timing = timing;
            spec.timeouts = Timeouts {
                connect: Duration::from_millis(500),
                check: Duration::from_millis(500),
            };
            monitor.add(spec)?;
        }
        println!(
            "{} {} targets over {} listener ports, inter {} ms, cap {} concurrent, slack {} ms, {} s",
            o.targets,
            match o.mode {
                Mode::Connect => "connect",
                Mode::HalfOpen => "half-open",
            },
            o.ports,
            o.inter_ms,
            o.cap,
            o.slack_ms,
            o.seconds
        );
        println!(
            "{:>4} {:>9} {:>9} {:>8} {:>7} {:>6}",
            "sec", "checks", "failures", "cpu%", "fds", "down"
        );
        let start = Instant::now();
        let cpu_start = cpu_seconds()?;
        let mut last_cpu = cpu_start;
        let mut last_checks = 0;
        let mut fds = Vec::new();
        let mut state_changes = 0usize;
        let mut steady_cpu_start = None;
        let mut interval = tokio::time::interval(Duration::from_secs(1));
        interval.tick().await;
        for sec in 1..=o.seconds {
            interval.tick().await;
            while changes.try_recv().is_ok() {
                state_changes += 1;
            }
            let cpu = cpu_seconds()?;
            let fd_count = open_fds()?;
            // Totals, as a metrics scrape would take them: copying every target's
            // snapshot each second would be the harness's cost, not the checker's.
            let MonitorTotals {
                checks,
                failures,
                down,
                ..
            } = monitor.totals();
            println!(
                "{sec:>4} {:>9} {failures:>9} {:>7.1}% {fd_count:>7} {down:>6}",
                checks - last_checks,
                (cpu - last_cpu) * 100.0
            );
            last_cpu = cpu;
            last_checks = checks;
            fds.push(fd_count);
            // Steady state starts once every target has had its first check.
            if steady_cpu_start.is_none() && sec * 1000 > o.inter_ms {
                steady_cpu_start = Some((cpu, Instant::now(), checks));
            }
        }
        let wall = start.elapsed().as_secs_f64();
        let cpu_total = last_cpu - cpu_start;
        println!("--");
        println!(
            "total: {last_checks} checks in {wall:.1} s ({:.0}/s), CPU {:.1}% of one core",
            last_checks as f64 / wall,
            cpu_total / wall * 100.0
        );
        if let Some((cpu0, t0, checks0)) = steady_cpu_start {
            let span = t0.elapsed().as_secs_f64();
            if span > 0.0 {
                let per_check = (last_cpu - cpu0) / (last_checks - checks0).max(1) as f64;
                println!(
                    "steady state: {:.0} checks/s, CPU {:.1}% of one core, {:.1} µs CPU per check \
                     ({:.2}x the blocking-loop floor)",
                    (last_checks - checks0) as f64 / span,
                    (last_cpu - cpu0) / span * 100.0,
                    per_check * 1e6,
                    per_check / baseline
                );
            }
        }
        let (min, max) = (
            fds.iter().min().copied().unwrap_or(0),
            fds.iter().max().copied().unwrap_or(0),
        );
        println!(
            "descriptors: min {min}, max {max} over {} samples; state changes {state_changes}",
            fds.len()
        );
        Ok::<(), anyhow::Error>(())
    })?;
    drop(child);
    Ok(())
}
