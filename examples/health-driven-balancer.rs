//! Embedding `healthcheck` and `balancer-algos` in a service: health checks decide which
//! servers a weighted round robin may pick.
//!
//! The example starts three small TCP servers on 127.0.0.1, checks each every 100 ms,
//! feeds every state change to the balancer, and picks servers for requests. It then
//! stops one server, waits until its check has failed twice, shows that the balancer no
//! longer picks it, and exits non-zero if anything went otherwise.
//!
//! Run it with `cargo run --example health-driven-balancer`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use balancer_algos::{
    Algorithm, Balancer, DispatchOptions, Request, ServerConfig, ServerId, ServerState,
};
use healthcheck::{CheckSpec, CheckTiming, HealthState, Monitor, MonitorConfig, TargetSpec};
use tokio::net::TcpListener;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // Three servers with weights 3, 2 and 1 that accept and close connections.
    let mut servers = Vec::new();
    for _ in 0..3 {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        servers.push((addr, task));
    }
    let weights = [3u16, 2, 1];
    let configs = (1..=3u32)
        .zip(weights)
        .map(|(id, weight)| ServerConfig::new(id, weight))
        .collect();
    let mut balancer = Algorithm::RoundRobin.build(configs, DispatchOptions::default())?;

    // A plain TCP connect check on each server: down after 2 failures, up after 2 passes.
    let (monitor, mut changes) = Monitor::new(MonitorConfig::default());
    let timing = CheckTiming {
        inter: Duration::from_millis(100),
        rise: 2,
        fall: 2,
        ..CheckTiming::default()
    };
    let mut ids = BTreeMap::new();
    for (index, (addr, _)) in servers.iter().enumerate() {
        let mut spec = TargetSpec::new(*addr, CheckSpec::Tcp(Default::default()).build()?);
        spec.timing = timing;
        ids.insert(monitor.add(spec)?, index as u32 + 1);
    }

    let share = |balancer: &mut Box<dyn Balancer + Send>| {
        let mut picks = BTreeMap::<u32, u32>::new();
        for _ in 0..600 {
            if let Some(ServerId(id)) = balancer.pick(&Request::default()) {
                *picks.entry(id).or_default() += 1;
            }
        }
        picks
    };
    let before = share(&mut balancer);
    println!("picks with all three up (weights 3:2:1): {before:?}");

    // Stop server 1; its check fails twice and the monitor says so.
    let (addr, task) = &servers[0];
    task.abort();
    println!("stopped server 1 at {addr}");
    let stopped = Instant::now();
    let change = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(change) = changes.recv().await {
            if ids.get(&change.target) == Some(&1) && change.to == HealthState::Down {
                return Some(change);
            }
        }
        None
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("the monitor stopped before server 1 went down"))?;
    let why = change
        .result
        .map(|r| format!("{:?} {}", r.status, r.description))
        .unwrap_or_default();
    println!(
        "server 1 marked down after {} ms: {why}",
        stopped.elapsed().as_millis()
    );
    balancer.set_state(ServerId(1), ServerState::Down, Duration::ZERO)?;

    let after = share(&mut balancer);
    println!("picks with server 1 down: {after:?}");
    anyhow::ensure!(
        before.get(&1) == Some(&300),
        "server 1 should take 3/6 of the picks"
    );
    anyhow::ensure!(!after.contains_key(&1), "a down server must not be picked");
    anyhow::ensure!(
        after.get(&2) == Some(&400),
        "server 2 should take 2/3 of the rest"
    );
    Ok(())
}
