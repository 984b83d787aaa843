//! The floor of one epoch: the training steps and evaluation passes of one paper epoch
//! done by libtorch with nothing else — no graph, no policies, no shuffling, no metrics.
//! Contiguous mini-batches of each node's contiguous slice of the training set, the same
//! CNN kernels as the simulation. Prints one JSON line: seconds for training and for
//! evaluation. `cargo run --release -p byzhost-train --example floor -- DATA_DIR [NODES]
//! [BATCH] [STEPS]` (defaults: the paper's 40 regular nodes, batch 60, 20 steps).

use std::time::Instant;

use byzhost_train::tensors::Samples;
use byzhost_train::{initial_params, Net, EVAL_CHUNK};
use tch::Device;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "../shared/datasets/fashion-mnist".into());
    let mut number = |default: usize| -> anyhow::Result<usize> { Ok(args.next().map(|a| a.parse()).transpose()?.unwrap_or(default)) };
    let (nodes, batch, steps) = (number(40)?, number(60)?, number(20)?);
    let data = byzhost_train::data::load_dir(std::path::Path::new(&dir))?;
    let train = Samples::from_dataset(&data.train, None, Device::Cpu);
    let test = Samples::from_dataset(&data.test, None, Device::Cpu);
    let per_node = (train.len() / nodes) as i64;
    let mut nets: Vec<Net> = (0..nodes)
        .map(|_| {
            let mut net = Net::new(Device::Cpu);
            net.load(&initial_params(1));
            net
        })
        .collect();

    let t = Instant::now();
    for (i, net) in nets.iter_mut().enumerate() {
        for s in 0..steps as i64 {
            let start = i as i64 * per_node + (s * batch as i64) % per_node;
            net.sgd_step(&train.images.narrow(0, start, batch as i64), &train.labels.narrow(0, start, batch as i64), 0.1, 5e-4);
        }
    }
    let train_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let correct: i64 = nets.iter().map(|net| net.correct(&test.images, &test.labels, EVAL_CHUNK)).sum();
    let eval_s = t.elapsed().as_secs_f64();
    println!(
        "{{\"nodes\": {nodes}, \"steps\": {steps}, \"batch\": {batch}, \"test_images\": {}, \"train_s\": {train_s:.3}, \"eval_s\": {eval_s:.3}, \"correct\": {correct}}}",
        test.len()
    );
    Ok(())
}
