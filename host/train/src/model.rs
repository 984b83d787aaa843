//! The paper's CNN, with all parameters in one contiguous `f32` tensor.
//!
//! Architecture (Section 4.1 of the paper): conv 5×5 (1→16, no padding) → 2×2 max-pool →
//! ReLU → conv 5×5 (16→32, no padding) → 2×2 max-pool → ReLU → FC 512→128 → ReLU →
//! FC 128→10. 28×28 inputs shrink to 24, 12, 8, 4, so the first FC layer sees 32·4·4 = 512
//! features and the model has [`DIM`] = 80,202 parameters.
//!
//! Every layer's weight and bias is a view into one flat leaf tensor, so the policy
//! boundary's flattened vector is the model itself: [`Net::store`] and [`Net::load`] are
//! single copies with no allocation on the CPU, and one SGD step updates all parameters
//! in one fused operation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// Parameter layout: name, shape, fan-in (for initialization).
pub const LAYOUT: [(&str, &[i64], i64); 8] = [
    ("conv1.weight", &[16, 1, 5, 5], 25),
    ("conv1.bias", &[16], 25),
    ("conv2.weight", &[32, 16, 5, 5], 400),
    ("conv2.bias", &[32], 400),
    ("fc1.weight", &[128, 512], 512),
    ("fc1.bias", &[128], 512),
    ("fc2.weight", &[10, 128], 128),
    ("fc2.bias", &[10], 128),
];

/// Number of parameters of the CNN.
pub const DIM: usize = 80_202;

/// Where each layer of [`LAYOUT`] lives in the flat parameter vector: `(offset, numel,
/// shape)`, in layout order. Both the single-model and the stacked views are cut from it.
pub(crate) fn layer_spans() -> impl Iterator<Item = (i64, i64, &'static [i64])> {
    LAYOUT.iter().scan(0i64, |offset, (_, shape, _)| {
        let numel: i64 = shape.iter().product();
        let start = *offset;
        *offset += numel;
        Some((start, numel, *shape))
    })
}

/// Initial parameters, as PyTorch's defaults draw them (kaiming-uniform with a = √5 for
/// weights, which is U(−1/√fan_in, 1/√fan_in), and the same bound for biases), from a
/// seeded ChaCha stream so that the result does not depend on libtorch's RNG.
pub fn initial_params(seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(DIM);
    for (_, shape, fan_in) in LAYOUT {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let n: i64 = shape.iter().product();
        out.extend((0..n).map(|_| rng.random_range(-bound..bound)));
    }
    debug_assert_eq!(out.len(), DIM);
    out
}

/// One CNN on one device.
pub struct Net {
    flat: Tensor,
    device: Device,
}

impl Net {
    /// A network with all parameters zero; [`Net::load`] sets them.
    pub fn new(device: Device) -> Net {
        let flat = Tensor::zeros([DIM as i64], (Kind::Float, device)).set_requires_grad(true);
        Net { flat, device }
    }

    pub fn device(&self) -> Device {
        self.device
    }

    fn views(&self) -> Vec<Tensor> {
        layer_spans().map(|(offset, numel, shape)| self.flat.narrow(0, offset, numel).view(shape)).collect()
    }

    /// Logits for a batch of images `[N, 1, 28, 28]`.
    pub fn forward(&self, images: &Tensor) -> Tensor {
        let p = self.views();
        images
            .conv2d(&p[0], Some(&p[1]), [1, 1], [0, 0], [1, 1], 1)
            .max_pool2d_default(2)
            .relu()
            .conv2d(&p[2], Some(&p[3]), [1, 1], [0, 0], [1, 1], 1)
            .max_pool2d_default(2)
            .relu()
            .flatten(1, -1)
            .linear(&p[4], Some(&p[5]))
            .relu()
            .linear(&p[6], Some(&p[7]))
    }

    /// Sets the parameters from a flat vector of [`DIM`] values.
    pub fn load(&mut self, params: &[f32]) {
        assert_eq!(params.len(), DIM, "a model vector has {DIM} values");
        tch::no_grad(|| {
            if self.device == Device::Cpu {
                // SAFETY: `flat` is a contiguous CPU f32 tensor of DIM elements that only this
                // Net references, and no autograd graph holds it between steps.
                let dst = unsafe { std::slice::from_raw_parts_mut(self.flat.data_ptr() as *mut f32, DIM) };
                dst.copy_from_slice(params);
            } else {
                let src = Tensor::from_slice(params).to_device(self.device);
                self.flat.copy_(&src);
            }
        });
    }

    /// Copies the parameters into `out` ([`DIM`] values).
    pub fn store(&self, out: &mut [f32]) {
        assert_eq!(out.len(), DIM, "a model vector has {DIM} values");
        self.flat.detach().copy_data(out, DIM);
    }

    /// One SGD step on a batch: `w ← w − lr·(∇loss + wd·w)`. Returns the batch loss.
    pub fn sgd_step(&mut self, images: &Tensor, labels: &Tensor, lr: f64, weight_decay: f64) -> f32 {
        let loss = self.forward(images).cross_entropy_for_logits(labels);
        loss.backward();
        tch::no_grad(|| {
            let grad = self.flat.grad();
            let update = grad + &self.flat * weight_decay;
            let _ = self.flat.f_sub_(&(update * lr));
        });
        self.flat.zero_grad();
        loss.double_value(&[]) as f32
    }

    /// Mean cross-entropy loss on a batch, without gradients.
    pub fn loss(&self, images: &Tensor, labels: &Tensor) -> f32 {
        tch::no_grad(|| self.forward(images).cross_entropy_for_logits(labels).double_value(&[]) as f32)
    }

    /// Logits for inference: the same function as [`Net::forward`], computed faster.
    ///
    /// libtorch's `max_pool2d` on NCHW tensors costs more than the convolution before it on
    /// this CPU (measured 0.41 s vs 0.30 s per 10,000 images for the first layer); the
    /// maximum of the four strided quarter-views of each 2×2 window is the same value — a
    /// max of the same four floats, so bit for bit — at an eighth of the cost. Training keeps
    /// `max_pool2d`, whose gradient routes a tie to one input as PyTorch's reference does.
    pub fn forward_inference(&self, images: &Tensor) -> Tensor {
        fn pool2(h: Tensor) -> Tensor {
            let q = |r: i64, c: i64| h.slice(2, r, None, 2).slice(3, c, None, 2);
            q(0, 0).maximum(&q(0, 1)).maximum(&q(1, 0).maximum(&q(1, 1)))
        }
        let p = self.views();
        let h = pool2(images.conv2d(&p[0], Some(&p[1]), [1, 1], [0, 0], [1, 1], 1)).relu();
        pool2(h.conv2d(&p[2], Some(&p[3]), [1, 1], [0, 0], [1, 1], 1))
            .relu()
            .flatten(1, -1)
            .linear(&p[4], Some(&p[5]))
            .relu()
            .linear(&p[6], Some(&p[7]))
    }

    /// Number of correct predictions on `images`, evaluated in chunks of `chunk` images
    /// ([`EVAL_CHUNK`] is the measured best on CPU).
    pub fn correct(&self, images: &Tensor, labels: &Tensor, chunk: i64) -> i64 {
        tch::no_grad(|| {
            let n = images.size()[0];
            let mut correct = 0;
            let mut start = 0;
            while start < n {
                let len = chunk.min(n - start);
                let logits = self.forward_inference(&images.narrow(0, start, len));
                let hits = logits.argmax(-1, false).eq_tensor(&labels.narrow(0, start, len));
                correct += hits.sum(Kind::Int64).int64_value(&[]);
                start += len;
            }
            correct
        })
    }
}

/// Images per evaluation chunk. On the 2-core CPU, chunks of 100–500 keep the first layer's
/// activations (250 × 16 × 24 × 24 floats, 9 MB) near the caches: 0.27 s per model on the
/// 10,000 test images against 0.60 s with chunks of 1,000 and 0.81 s for the training
/// forward with chunks of 1,000 (`cargo run --release -p byzhost-train --example eval_speed`);
/// 250 sits in the middle of the flat region.
pub const EVAL_CHUNK: i64 = 250;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_adds_up_to_80202_parameters() {
        let total: i64 = LAYOUT.iter().map(|(_, s, _)| s.iter().product::<i64>()).sum();
        assert_eq!(total as usize, DIM);
        assert_eq!(initial_params(1).len(), DIM);
    }

    #[test]
    fn initialization_is_seeded_and_bounded() {
        let a = initial_params(7);
        assert_eq!(a, initial_params(7));
        assert_ne!(a, initial_params(8));
        // conv1 weights lie within ±1/√25.
        assert!(a[..400].iter().all(|x| x.abs() <= 0.2));
    }

    #[test]
    fn load_then_store_round_trips() {
        let mut net = Net::new(Device::Cpu);
        let p = initial_params(3);
        net.load(&p);
        let mut out = vec![0.0; DIM];
        net.store(&mut out);
        assert_eq!(out, p);
    }

    #[test]
    fn an_sgd_step_lowers_the_loss_on_its_batch() {
        tch::manual_seed(0);
        let mut net = Net::new(Device::Cpu);
        net.load(&initial_params(3));
        let x = Tensor::randn([60, 1, 28, 28], (Kind::Float, Device::Cpu));
        let y = Tensor::randint(10, [60], (Kind::Int64, Device::Cpu));
        let before = net.loss(&x, &y);
        for _ in 0..5 {
            net.sgd_step(&x, &y, 0.1, 5e-4);
        }
        assert!(net.loss(&x, &y) < before);
    }

    #[test]
    fn inference_forward_equals_the_training_forward_bit_for_bit() {
        tch::manual_seed(1);
        let mut net = Net::new(Device::Cpu);
        net.load(&initial_params(11));
        // Zero backgrounds make exact ties inside pooling windows, as real images do.
        let x = Tensor::randn([64, 1, 28, 28], (Kind::Float, Device::Cpu)).relu();
        let (a, b) = tch::no_grad(|| (net.forward(&x), net.forward_inference(&x)));
        assert_eq!(Vec::<f32>::try_from(a.flatten(0, -1)).unwrap(), Vec::<f32>::try_from(b.flatten(0, -1)).unwrap());
    }

    #[test]
    fn sgd_step_matches_the_formula_with_zero_gradient_direction() {
        // With lr = 0 nothing moves; weight decay alone shrinks weights by (1 − lr·wd).
        let mut net = Net::new(Device::Cpu);
        let p = initial_params(5);
        net.load(&p);
        let x = Tensor::zeros([2, 1, 28, 28], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1]);
        net.sgd_step(&x, &y, 0.0, 0.5);
        let mut out = vec![0.0; DIM];
        net.store(&mut out);
        assert_eq!(out, p);
    }
}
