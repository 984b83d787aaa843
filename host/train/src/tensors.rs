//! Datasets as device tensors, per-node shards, and seeded mini-batches.

use tch::{Device, Tensor};

use crate::data::Dataset;

/// Fashion-MNIST pixel mean and standard deviation (after scaling to [0, 1]).
pub const PIXEL_MEAN: f32 = 0.2860;
pub const PIXEL_STD: f32 = 0.3530;

/// Images `[N, 1, rows, cols]` (normalized f32) and labels `[N]` (i64) on a device.
pub struct Samples {
    pub images: Tensor,
    pub labels: Tensor,
}

impl Samples {
    /// Converts `indices` of `set` (all of it when `None`), normalizing pixels to
    /// (x/255 − mean)/std.
    pub fn from_dataset(set: &Dataset, indices: Option<&[usize]>, device: Device) -> Samples {
        let px = set.pixels();
        let all: Vec<usize>;
        let idx = match indices {
            Some(i) => i,
            None => {
                all = (0..set.len()).collect();
                &all
            }
        };
        let mut pixels = Vec::with_capacity(idx.len() * px);
        for &i in idx {
            pixels.extend(set.images[i * px..(i + 1) * px].iter().map(|&p| (p as f32 / 255.0 - PIXEL_MEAN) / PIXEL_STD));
        }
        let labels: Vec<i64> = idx.iter().map(|&i| set.labels[i] as i64).collect();
        Samples {
            images: Tensor::from_slice(&pixels).view([idx.len() as i64, 1, set.rows as i64, set.cols as i64]).to_device(device),
            labels: Tensor::from_slice(&labels).to_device(device),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.size()[0] as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A node's local data and its mini-batch order, reshuffled each epoch from the seed.
pub struct Shard {
    pub samples: Samples,
    batch_size: usize,
    order: Tensor,
    order_epoch: Option<u32>,
    seed: u64,
}

impl Shard {
    pub fn new(samples: Samples, batch_size: usize, seed: u64) -> Shard {
        Shard { samples, batch_size, order: Tensor::new(), order_epoch: None, seed }
    }

    /// Full mini-batches per pass over the shard (the last partial batch is dropped).
    pub fn steps_per_epoch(&self) -> usize {
        self.samples.len() / self.batch_size
    }

    /// Mini-batch `step` of `epoch`; steps past the end of a pass wrap around.
    pub fn batch(&mut self, epoch: u32, step: usize) -> (Tensor, Tensor) {
        if self.order_epoch != Some(epoch) {
            let n = self.samples.len();
            let mut idx: Vec<i64> = (0..n as i64).collect();
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed.wrapping_add(epoch as u64 * 0x9E37_79B9));
            idx.shuffle(&mut rng);
            self.order = Tensor::from_slice(&idx).to_device(self.samples.images.device());
            self.order_epoch = Some(epoch);
        }
        let steps = self.steps_per_epoch().max(1);
        let start = ((step % steps) * self.batch_size) as i64;
        let pick = self.order.narrow(0, start, self.batch_size as i64);
        (self.samples.images.index_select(0, &pick), self.samples.labels.index_select(0, &pick))
    }
}
