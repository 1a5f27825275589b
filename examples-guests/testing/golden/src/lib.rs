//! The golden workflow, in Rust: one of three identical workflows (with
//! `golden-py` and `golden-js`) whose `describe` outputs
//! `tests/sdk_agreement.rs` requires to be byte-identical. It takes an
//! order (a step with the default options), prices it (a step with workers,
//! a retry policy and a timeout), and asks a human to approve it (a step
//! waiting for a `HumanResponseEvent`), keeping a ledger in typed state and
//! ending with a custom stop event.
//!
//! Keep the three in step: same types, fields, docs, steps and options, in
//! the same order.

use std::time::Duration;

use wflow_guest::prelude::*;

/// The workflow's ledger.
#[state]
#[derive(Default)]
struct Ledger {
    orders: i64,
    approvals: Vec<String>,
    last_order: Option<String>,
}

/// Who placed an order.
#[event]
struct Customer {
    name: String,
    vip: bool,
}

/// An order to price.
#[event]
struct Order {
    id: String,
    quantity: i64,
    price: f64,
    express: bool,
    tags: Vec<String>,
    note: Option<String>,
    customer: Customer,
}

/// An order with its total.
#[event]
struct Priced {
    order_id: String,
    total: f64,
}

/// The reviewed order: the run's result.
#[event(stop)]
struct Receipt {
    order_id: String,
    total: f64,
    approved: bool,
    reviewer: Option<String>,
}

#[step]
fn take_order(ctx: &Context, ev: StartEvent) -> Result<Order, StepError> {
    let id: String = ev.get("id")?;
    ctx.store().edit(|ledger: &mut Ledger| {
        ledger.orders += 1;
        ledger.last_order = Some(id.clone());
        Ok(())
    })?;
    Ok(Order {
        quantity: ev.get_or("quantity", 1)?,
        price: ev.get("price")?,
        express: ev.get_or("express", false)?,
        tags: ev.get_or("tags", Vec::new())?,
        note: ev.get_or("note", None)?,
        customer: Customer {
            name: ev.get("customer")?,
            vip: ev.get_or("vip", false)?,
        },
        id,
    })
}

#[step(
    num_workers = 2,
    timeout_ms = 30_000,
    retry = RetryPolicy::exponential(250)
        .max_attempts(5)
        .multiplier(3.0)
        .max_delay_ms(4_000)
        .jitter(0.25)
        .retry_on("TransientError")
)]
fn price(ev: Order) -> Priced {
    let rate = if ev.express { 1.5 } else { 1.0 };
    Priced {
        order_id: ev.id,
        total: ev.quantity as f64 * ev.price * rate,
    }
}

#[step(
    retry = RetryPolicy::default(),
    emits = [InputRequiredEvent],
    waits = [HumanResponseEvent]
)]
fn review(ctx: &Context, ev: Priced) -> Result<Receipt, StepError> {
    let answer = ctx
        .wait_for_event::<HumanResponseEvent>()
        .waiter(InputRequiredEvent::new(format!(
            "Approve order {} for {}? ",
            ev.order_id, ev.total
        )))?
        .waiter_id("review")
        .timeout(Duration::from_secs(600))
        .wait()?;
    let reviewer = answer.response().unwrap_or_default().trim().to_string();
    let approved = reviewer == "yes";
    if approved {
        ctx.store().edit(|ledger: &mut Ledger| {
            ledger.approvals.push(ev.order_id.clone());
            Ok(())
        })?;
    }
    Ok(Receipt {
        order_id: ev.order_id,
        total: ev.total,
        approved,
        reviewer: Some(reviewer),
    })
}

export_steps!(workflow = "GoldenFlow", state = Ledger; take_order, price, review);
