//! Measures containment of a runaway guest: an infinite loop under a 200 ms
//! step timeout, started together with 100 runs of `joke`. Prints how long
//! the loop's run took to fail and how long the 100 jokes took.
//!
//!     cargo run --release -p wflow-host --example loop_beside_jokes

use std::time::Instant;

use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let hostile = wflow_tests::workflow("hostile").await;
    let joke = wflow_tests::workflow("joke").await;
    for round in 1..=3 {
        let started = Instant::now();
        let spin = hostile
            .run(json!({"mode": "infinite_loop"}))
            .expect("run starts");
        let jokes: Vec<_> = (0..100)
            .map(|i| {
                joke.run(json!({"topic": format!("t{i}")}))
                    .expect("run starts")
            })
            .collect();
        let spin_task = tokio::spawn(async move {
            let err = spin.result().await.expect_err("the loop is stopped");
            (started.elapsed(), err)
        });
        for handler in &jokes {
            handler.result().await.expect("joke completes");
        }
        let jokes_done = started.elapsed();
        let (spin_done, err) = spin_task.await.expect("join");
        println!(
            "round {round}: infinite loop stopped after {:.0} ms ({err}); 100 jokes done after {:.0} ms",
            spin_done.as_secs_f64() * 1e3,
            jokes_done.as_secs_f64() * 1e3
        );
    }
}
