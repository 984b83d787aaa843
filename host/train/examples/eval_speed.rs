//! Measures evaluation of one CNN on the test set: the training forward (libtorch
//! `max_pool2d`) against the inference forward, over chunk sizes, side by side.
//! `cargo run --release -p byzhost-train --example eval_speed -- [DATA_DIR] [REPS]`

use std::time::Instant;

use byzhost_train::tensors::Samples;
use byzhost_train::{initial_params, Net};
use tch::{Device, Kind, Tensor};

/// Correct predictions with the training forward, as evaluation ran before.
fn correct_reference(net: &Net, images: &Tensor, labels: &Tensor, chunk: i64) -> i64 {
    tch::no_grad(|| {
        let n = images.size()[0];
        (0..n)
            .step_by(chunk as usize)
            .map(|s| {
                let len = chunk.min(n - s);
                let hits = net.forward(&images.narrow(0, s, len)).argmax(-1, false).eq_tensor(&labels.narrow(0, s, len));
                hits.sum(Kind::Int64).int64_value(&[])
            })
            .sum()
    })
}

fn main() -> anyhow::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "../shared/datasets/fashion-mnist".into());
    let reps: u32 = std::env::args().nth(2).map(|r| r.parse()).transpose()?.unwrap_or(3);
    let data = byzhost_train::data::load_dir(std::path::Path::new(&dir))?;
    let test = Samples::from_dataset(&data.test, None, Device::Cpu);
    let mut net = Net::new(Device::Cpu);
    net.load(&initial_params(1));
    let time = |f: &dyn Fn() -> i64| {
        let _ = f();
        let t = Instant::now();
        let mut c = 0;
        for _ in 0..reps {
            c = f();
        }
        (t.elapsed().as_secs_f64() / reps as f64, c)
    };
    let (base, base_correct) = time(&|| correct_reference(&net, &test.images, &test.labels, 1000));
    println!("{} test images, {} intra-op threads, {reps} repetitions", test.len(), tch::get_num_threads());
    println!("| path | chunk | s per model | ratio to reference | correct |");
    println!("|---|---|---|---|---|");
    println!("| reference (max_pool2d) | 1000 | {base:.3} | 1.00 | {base_correct} |");
    for chunk in [100, 250, 500, 1000] {
        let (s, c) = time(&|| net.correct(&test.images, &test.labels, chunk));
        assert_eq!(c, base_correct, "the inference forward must predict what the reference does");
        println!("| inference (strided max) | {chunk} | {s:.3} | {:.2} | {c} |", s / base);
    }
    Ok(())
}
