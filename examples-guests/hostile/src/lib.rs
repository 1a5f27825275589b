//! A hostile guest: each mode of the start event attacks the host in one
//! way. The host must contain every one of them.

use wflow_guest::prelude::*;

/// The attack to run.
#[event]
struct Attack {
    mode: String,
    /// The paths `read_paths` and `write_paths` try.
    #[serde(default)]
    paths: Vec<String>,
    /// How many MiB `stream_mib` streams.
    #[serde(default)]
    mib: u32,
}

/// Nobody ever sends this.
#[event]
struct NeverSent {}

/// Wait for an event nobody sends, with no timeout.
#[event]
struct WaitForever {}

/// Loop forever.
#[event]
struct Spin {}

/// Which attack.
#[derive(Events)]
enum Plan {
    Attack(Attack),
    Spin(Spin),
    Wait(WaitForever),
}

#[step]
fn start(ev: StartEvent) -> Result<Plan, StepError> {
    let mode: String = ev.get("mode")?;
    Ok(match mode.as_str() {
        "wait_forever" => Plan::Wait(WaitForever {}),
        "infinite_loop" => Plan::Spin(Spin {}),
        _ => Plan::Attack(Attack {
            mode,
            paths: ev.get_or("paths", Vec::new())?,
            mib: ev.get_or("mib", 0)?,
        }),
    })
}

/// An infinite loop under a 200 ms step timeout.
#[step(timeout_ms = 200)]
fn spin(_ev: Spin) -> StopEvent {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// No step timeout here: only the run's timeout can end this wait.
#[step(waits = [NeverSent])]
fn wait(ctx: &Context, _ev: WaitForever) -> Result<StopEvent, StepError> {
    ctx.wait_for_event::<NeverSent>().wait()?;
    Ok(StopEvent::result("answered"))
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == 0 {
        return 0;
    }
    std::hint::black_box(recurse(std::hint::black_box(depth - 1))) + 1
}

/// Tries to read `path`; returns what happened.
fn try_read(path: &str) -> String {
    match std::fs::read(path) {
        Ok(bytes) => format!("{path}: READ {} bytes", bytes.len()),
        Err(err) => format!("{path}: {err}"),
    }
}

#[step(timeout_ms = 10_000, emits = [StopEvent, Attack])]
fn attack(ctx: &Context, ev: Attack) -> Result<AnyEvent, StepError> {
    let stop = |result: Value| AnyEvent::new("StopEvent", json!({ "result": result }).to_string());
    match ev.mode.as_str() {
        "stack_overflow" => Ok(stop(json!(recurse(u64::MAX)))),
        "memory_bomb" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 16 * 1024 * 1024]);
                std::hint::black_box(&hoard);
            }
        }
        "unreachable" => {
            #[cfg(target_arch = "wasm32")]
            core::arch::wasm32::unreachable();
            #[cfg(not(target_arch = "wasm32"))]
            unreachable!()
        }
        "panic" => panic!("hostile guest panics"),
        "undeclared" => Ok(AnyEvent::new("Ghost", "{}")),
        "malformed_json" => Ok(AnyEvent::new("StopEvent", "{\"result\": oops")),
        "huge_event" => {
            let mut data = String::with_capacity(100 * 1024 * 1024 + 16);
            data.push_str("{\"result\":\"");
            data.extend(std::iter::repeat_n('x', 100 * 1024 * 1024));
            data.push_str("\"}");
            Ok(AnyEvent::new("StopEvent", data))
        }
        "huge_collect" => {
            // 20 MiB, past the default limits.max_event_bytes (16 MiB),
            // handed to collect_events rather than emitted.
            let huge = Attack {
                mode: "x".repeat(20 * 1024 * 1024),
                paths: Vec::new(),
                mib: 0,
            };
            let collected = ctx.collect_events(&huge, &["Attack", "Attack"])?;
            Ok(stop(json!(collected.is_some())))
        }
        "read_files" => {
            let attempts = [
                "/etc/passwd",
                "../Cargo.toml",
                "./secret",
                "/",
                "~/.ssh/id_rsa",
            ];
            Ok(stop(json!(
                attempts.iter().map(|p| try_read(p)).collect::<Vec<_>>()
            )))
        }
        "env" => Ok(stop(json!(std::env::vars().collect::<Vec<_>>()))),
        "read_paths" => Ok(stop(json!(
            ev.paths.iter().map(|p| try_read(p)).collect::<Vec<_>>()
        ))),
        "write_paths" => {
            let results: Vec<String> = ev
                .paths
                .iter()
                .map(|p| match std::fs::write(p, "written by a guest") {
                    Ok(()) => format!("{p}: WROTE"),
                    Err(err) => format!("{p}: {err}"),
                })
                .collect();
            Ok(stop(json!(results)))
        }
        "config" => Ok(stop(json!({
            "model": ctx.config("model"),
            "missing": ctx.config("missing"),
            "env": std::env::vars().collect::<Vec<_>>(),
        }))),
        "flood_stream" => {
            for i in 0..1000 {
                ctx.write_event_to_stream(&Attack {
                    mode: format!("flood {i}"),
                    paths: Vec::new(),
                    mib: 0,
                })?;
            }
            Ok(stop(json!("flooded")))
        }
        "flood_stream_bytes" => {
            // 64 events of 1 MiB: past a limits.max_stream_bytes of 8 MiB.
            let chunk = "x".repeat(1024 * 1024);
            for _ in 0..64 {
                ctx.write_event_to_stream(&Attack {
                    mode: chunk.clone(),
                    paths: Vec::new(),
                    mib: 0,
                })?;
            }
            Ok(stop(json!("flooded")))
        }
        "stream_mib" => {
            // `mib` events of 1 MiB each.
            let chunk = "x".repeat(1024 * 1024);
            for _ in 0..ev.mib {
                ctx.write_event_to_stream(&Attack {
                    mode: chunk.clone(),
                    paths: Vec::new(),
                    mib: 0,
                })?;
            }
            Ok(stop(json!("flooded")))
        }
        "big_state" => {
            ctx.store().set("blob", &"x".repeat(1024 * 1024))?;
            Ok(stop(json!("stored")))
        }
        "print" => {
            println!("hello from the guest");
            eprintln!("a warning from the guest");
            Ok(stop(json!("printed")))
        }
        "send_nowhere" => {
            let stray = Attack {
                mode: "x".into(),
                paths: Vec::new(),
                mib: 0,
            };
            ctx.send_event_to(stray, "nowhere")?;
            Ok(stop(json!("sent")))
        }
        other => Err(StepError::new(
            "ValueError",
            format!("unknown mode {other}"),
        )),
    }
}

export_steps!(start, attack, spin, wait);
