//! All nodes' CNNs as one computation: stacked parameters, grouped convolutions and batched
//! matrix products.
//!
//! The nodes' models have identical shapes, so `m` of them can run forward and backward as
//! one graph: row `i` of a `[m, DIM]` leaf tensor is node `i`'s flat model (the layout of
//! [`crate::model::LAYOUT`]); node `i`'s images become input channel `i` of a grouped
//! convolution with `m` groups, and the fully connected layers are `baddbmm` over the node
//! dimension. The loss is the sum of the nodes' mean cross-entropies, so the gradient of
//! row `i` is exactly node `i`'s own gradient: each node still sees only its own batch, and
//! the SGD update `w ← w − lr·(∇ + wd·w)` is applied row by row in one operation.
//!
//! This pays off where one large kernel beats many small ones (a GPU). On a 2-core CPU the
//! per-node loop of [`crate::Net`] is faster (see BENCHMARKS.md), so the simulation chooses
//! per device and keeps the per-node path as the reference.

use tch::{Device, Kind, Tensor};

use crate::model::{layer_spans, DIM};

/// `m` CNNs stacked for training.
pub struct StackedNets {
    /// `[m, DIM]`, one row per node.
    flat: Tensor,
    nodes: usize,
}

impl StackedNets {
    /// `nodes` networks with all parameters zero; [`StackedNets::load_all`] sets them.
    pub fn new(nodes: usize, device: Device) -> StackedNets {
        let flat = Tensor::zeros([nodes as i64, DIM as i64], (Kind::Float, device)).set_requires_grad(true);
        StackedNets { flat, nodes }
    }

    pub fn nodes(&self) -> usize {
        self.nodes
    }

    /// Sets every model from `models` (`nodes` rows of [`DIM`] values, row after row).
    pub fn load_all(&mut self, models: &[f32]) {
        assert_eq!(models.len(), self.nodes * DIM, "{} models of {DIM} values", self.nodes);
        tch::no_grad(|| {
            let src = Tensor::from_slice(models).view([self.nodes as i64, DIM as i64]).to_device(self.flat.device());
            self.flat.copy_(&src);
        });
    }

    /// Copies every model into `out` (`nodes` rows of [`DIM`] values).
    pub fn store_all(&self, out: &mut [f32]) {
        assert_eq!(out.len(), self.nodes * DIM, "{} models of {DIM} values", self.nodes);
        self.flat.detach().to_device(Device::Cpu).contiguous().view([-1]).copy_data(out, self.nodes * DIM);
    }

    /// Per-layer parameters with the node dimension first: `[m, shape...]`.
    fn layers(&self) -> Vec<Tensor> {
        layer_spans()
            .map(|(offset, numel, shape)| {
                let mut full = vec![self.nodes as i64];
                full.extend_from_slice(shape);
                self.flat.narrow(1, offset, numel).reshape(full.as_slice())
            })
            .collect()
    }

    /// Logits `[m, B, 10]` for per-node batches `images` `[m, B, 1, 28, 28]`.
    pub fn forward(&self, images: &Tensor) -> Tensor {
        let m = self.nodes as i64;
        let size = images.size();
        let b = size[1];
        let p = self.layers();
        // [m, B, 1, H, W] → [B, m, H, W]: node i's images are input channel i.
        let x = images.squeeze_dim(2).transpose(0, 1);
        let h = x
            .conv2d(&p[0].reshape([m * 16, 1, 5, 5]), Some(&p[1].reshape([m * 16])), [1, 1], [0, 0], [1, 1], m)
            .max_pool2d_default(2)
            .relu()
            .conv2d(&p[2].reshape([m * 32, 16, 5, 5]), Some(&p[3].reshape([m * 32])), [1, 1], [0, 0], [1, 1], m)
            .max_pool2d_default(2)
            .relu();
        // [B, m·32, 4, 4] → [m, B, 512], features in the per-node flatten order.
        let h = h.view([b, m, 512]).transpose(0, 1);
        let h = p[5].unsqueeze(1).baddbmm(&h, &p[4].transpose(1, 2), 1.0, 1.0).relu();
        p[7].unsqueeze(1).baddbmm(&h, &p[6].transpose(1, 2), 1.0, 1.0)
    }

    /// One SGD step of every node on its own batch (`images` `[m, B, 1, 28, 28]`, `labels`
    /// `[m, B]`): `w_i ← w_i − lr·(∇loss_i + wd·w_i)`. Returns each node's batch loss.
    pub fn sgd_step(&mut self, images: &Tensor, labels: &Tensor, lr: f64, weight_decay: f64) -> Vec<f32> {
        let logits = self.forward(images);
        let (m, b) = (self.nodes as i64, labels.size()[1]);
        // Mean over each node's batch, then the sum over nodes: row i's gradient is node i's.
        let per_node = logits
            .view([m * b, 10])
            .cross_entropy_loss::<Tensor>(&labels.view([m * b]), None, tch::Reduction::None, -100, 0.0)
            .view([m, b])
            .mean_dim(1, false, Kind::Float);
        per_node.sum(Kind::Float).backward();
        tch::no_grad(|| {
            let grad = self.flat.grad();
            let update = grad + &self.flat * weight_decay;
            let _ = self.flat.f_sub_(&(update * lr));
        });
        self.flat.zero_grad();
        Vec::<f32>::try_from(per_node.detach().to_device(Device::Cpu)).expect("one loss per node")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{initial_params, Net};

    #[test]
    fn stacked_training_gives_the_per_node_models() {
        tch::manual_seed(3);
        let (m, b) = (4usize, 16i64);
        let init: Vec<f32> = (0..m as u64).flat_map(initial_params).collect();
        let mut stacked = StackedNets::new(m, Device::Cpu);
        stacked.load_all(&init);
        let mut nets: Vec<Net> = init
            .chunks_exact(DIM)
            .map(|p| {
                let mut n = Net::new(Device::Cpu);
                n.load(p);
                n
            })
            .collect();
        for _ in 0..3 {
            let x = Tensor::randn([m as i64, b, 1, 28, 28], (Kind::Float, Device::Cpu)).relu();
            let y = Tensor::randint(10, [m as i64, b], (Kind::Int64, Device::Cpu));
            let losses = stacked.sgd_step(&x, &y, 0.1, 5e-4);
            for (i, net) in nets.iter_mut().enumerate() {
                let loss = net.sgd_step(&x.get(i as i64), &y.get(i as i64), 0.1, 5e-4);
                assert!((loss - losses[i]).abs() < 1e-5, "node {i}: loss {loss} vs {}", losses[i]);
            }
        }
        let mut together = vec![0.0; m * DIM];
        stacked.store_all(&mut together);
        let mut alone = vec![0.0; DIM];
        for (i, net) in nets.iter().enumerate() {
            net.store(&mut alone);
            let worst = alone.iter().zip(&together[i * DIM..(i + 1) * DIM]).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "node {i}: models differ by {worst}");
            assert_ne!(alone, init[i * DIM..(i + 1) * DIM], "node {i} trained");
        }
    }
}
