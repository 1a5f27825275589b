//! A linear chain of ten steps passing one small event: the benchmark
//! workload for per-hop cost and runs per second.

use wflow_guest::prelude::*;

macro_rules! chain {
    ($first:ident; $($step:ident: $from:ident -> $to:ident),* ; $last:ident: $final:ident) => {
        $(
            /// A hop of the chain.
            #[event]
            struct $to {
                n: u64,
            }
        )*

        #[step]
        fn $first(ev: StartEvent) -> Result<Hop1, StepError> {
            Ok(Hop1 { n: ev.get_or("n", 0)? + 1 })
        }

        $(
            #[step]
            fn $step(ev: $from) -> $to {
                $to { n: ev.n + 1 }
            }
        )*

        #[step]
        fn $last(ev: $final) -> StopEvent {
            StopEvent::result(ev.n + 1)
        }

        export_steps!($first, $($step,)* $last);
    };
}

/// The first hop.
#[event]
struct Hop1 {
    n: u64,
}

chain!(s1;
    s2: Hop1 -> Hop2, s3: Hop2 -> Hop3, s4: Hop3 -> Hop4, s5: Hop4 -> Hop5,
    s6: Hop5 -> Hop6, s7: Hop6 -> Hop7, s8: Hop7 -> Hop8, s9: Hop8 -> Hop9;
    s10: Hop9);
