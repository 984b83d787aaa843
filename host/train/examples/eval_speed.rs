//! Measures evaluation of one CNN on the test set with different chunk sizes and guards.
//! `cargo run --release -p byzhost-train --example eval_speed -- DATA_DIR`

use std::time::Instant;

use byzhost_train::tensors::Samples;
use byzhost_train::{initial_params, Net};
use tch::Device;

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "../shared/datasets/fashion-mnist".into());
    let data = byzhost_train::data::load_dir(std::path::Path::new(&dir))?;
    let test = Samples::from_dataset(&data.test, None, Device::Cpu);
    let mut net = Net::new(Device::Cpu);
    net.load(&initial_params(1));
    for chunk in [500, 1000, 2500, 10000] {
        let t = Instant::now();
        let reps = 3;
        let mut c = 0;
        for _ in 0..reps {
            c = net.correct(&test.images, &test.labels, chunk);
        }
        println!("chunk {chunk:>5}: {:.3} s per model ({c} correct)", t.elapsed().as_secs_f64() / reps as f64);
    }
    Ok(())
}
