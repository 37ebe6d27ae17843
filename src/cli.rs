//! Command-line interface.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Train generative models (VAE, EM, GAN, AAE, ALI/BiGAN) and Bayesian neural networks as
/// minimizers of the joint KL divergence KL(p(x,z) || q(x,z)), logging to TensorBoard.
///
/// Example: gen train configs/vae.yaml, then: tensorboard --logdir runs
#[derive(Parser, Debug)]
#[command(name = "gen", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a model described by a YAML config; writes a run directory under runs/.
    Train(TrainArgs),
    /// Evaluate a trained run on its test set: print a table and write eval.json into it.
    Eval(EvalArgs),
    /// Draw samples from a trained run: a PNG (image grid or 2-D scatter) or an N x D float32 .npy.
    Sample(SampleArgs),
    /// Write the code means of every test example as an N x latent float32 .npy.
    Encode(EncodeArgs),
    /// A predictive model's (bnn) predictions for the inputs in a file: mean and spread per row.
    Predict(PredictArgs),
    /// Write the first test images, each row followed by their reconstructions, as a PNG.
    Reconstruct(ReconstructArgs),
    /// Decode a straight line in z between two test images' codes, as a PNG row.
    Interpolate(InterpolateArgs),
    /// Score image samples in a file (.npy, pixels in [0, 1]) against a data set's test set: FD, IS, precision/recall, class coverage.
    Score(ScoreArgs),
    /// One table of the figures several runs' eval.json hold, and their sample grids side by side.
    Compare(CompareArgs),
    /// Many runs from one file: a grid of config values x seeds, on this machine or a Slurm cluster.
    Sweep(SweepArgs),
    /// Write a run's trained parameters (no optimizer state) as one .safetensors file.
    Export(ExportArgs),
    /// List the model families and datasets this build knows.
    List,
    /// Time a training step (the reference VAE, the conv VAE, the DCGAN), optionally beside the JAX peer, and three configs' epochs.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
#[command(
    after_help = "Models: vae, the reference step (784-400-20 MLP VAE, summed BCE + analytic KL, Adam 1e-3, \
the step of the peer peer_vae_jax.py); conv-vae, a step of configs/vae-conv.yaml's model \
(peer: bench/peer_conv_vae_jax.py); dcgan, an iteration of configs/dcgan-small.yaml (peer: peer_dcgan_jax.py); \
poem-vae, a step of configs/poem-vae.yaml's model (peer: bench/peer_poem_vae_jax.py). \
f32 on random data. The conv and poem VAEs' peers ship in bench/; the MLP VAE's and the DCGAN's are \
not in the repository: bench/setup-peers.sh looks for them in $GEN_SHARED_BENCH (default \
../shared/bench beside the clone) and says so when they are missing; without --peer gen is timed alone. Each run is its own process with RAYON_NUM_THREADS set and pinned to that many cores \
(taskset), gen and the peer alternating; the figures are medians. GFLOP/s counts the matrix products' \
operations, against the best rate of a large product on the same threads (measured after every run). Build with --release for \
meaningful figures.\n\n\
Examples:\n  gen bench --batch 32,128,512 --peer bench/setup-peers.sh\n  \
gen bench --model dcgan,conv-vae --threads 1,2 --peer bench/setup-peers.sh"
)]
pub struct BenchArgs {
    /// What to time: vae, conv-vae, dcgan, poem-vae (comma-separated for several).
    #[arg(long, value_delimiter = ',', default_value = "vae")]
    pub model: Vec<String>,
    /// Batch sizes to time [default: 128 for vae, 32 for conv-vae, 64 for dcgan and poem-vae].
    #[arg(long, value_delimiter = ',')]
    pub batch: Vec<usize>,
    /// Thread counts to time [default: 1 and the number of cores].
    #[arg(long, value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Timed steps per run [default: 200 for vae, 60 for conv-vae, 20 for dcgan, 100 for poem-vae].
    #[arg(long)]
    pub steps: Option<usize>,
    /// Timed runs per row (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Untimed steps first [default: 20 for vae, 5 for conv-vae, 2 for dcgan, 10 for poem-vae].
    #[arg(long)]
    pub warmup: Option<usize>,
    /// The peer launcher, bench/setup-peers.sh: times JAX on the same step, alternating with gen.
    #[arg(long, value_name = "SETUP_PEERS_SH")]
    pub peer: Option<PathBuf>,
    /// Also time three configs as `gen train` runs them: one epoch of configs/vae.yaml and of configs/gan-ring.yaml, and the whole EM fit of configs/em-gmm.yaml.
    #[arg(long)]
    pub epoch: bool,
    /// (internal) Time one run in this process and print it for the parent.
    #[arg(long, hide = true)]
    pub worker: bool,
}

#[derive(Args, Debug)]
#[command(
    after_help = "A new run goes to runs/<config-name>-<timestamp>/ (never overwriting one) and holds the \
resolved config.yaml, the TensorBoard event file, checkpoint.safetensors and PNG grids per epoch. \
Before anything big is allocated the run's memory is estimated and checked against what the machine has \
(GEN_MEMORY_LIMIT=16G replaces that figure); a run directory has one writer at a time.\n\n\
Examples:\n  gen train configs/vae.yaml\n  gen train configs/vae.yaml --set train.epochs=2 --set model.latent=2\n  \
gen train --resume runs/vae-20261121-101500 --set train.epochs=20"
)]
pub struct TrainArgs {
    /// The YAML config (see configs/ and the README's config reference).
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    pub config: Option<PathBuf>,

    /// Override a config value: --set train.epochs=5 (repeatable; the value is YAML).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub sets: Vec<String>,

    /// Write the run here instead of runs/<name>-<timestamp>/ (must not exist or be empty).
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub run_dir: Option<PathBuf>,

    /// Continue a run from its checkpoint and saved config (raise the budget with --set train.epochs=N).
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,

    /// Parent directory of new runs.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs: PathBuf,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Reads RUN_DIR/config.yaml and RUN_DIR/checkpoint.safetensors, loads the run's data, \
prints the figures (EM: per-sample train and test log-likelihood, BIC, AIC; gradient-trained models: \
the test-set loss and its joint-KL terms) and writes them to RUN_DIR/eval.json.\n\n\
Example:\n  gen eval runs/em-gmm-20261122-101500"
)]
pub struct EvalArgs {
    /// A run directory written by `gen train`.
    pub run_dir: PathBuf,
    /// Importance samples per test example for the VAE's log-likelihood bound (`nll/importance`);
    /// 5000 is the standard NLL estimate (minutes on a CPU), smaller is faster and looser;
    /// 0 skips it (and the per-dimension KL computed with it). [default: 5000; 100 for text runs]
    #[arg(long)]
    pub importance_samples: Option<u64>,
    /// A classifier's out-of-distribution check: the AUROC of predictive entropy between
    /// this data set's test images and the run's (e.g. --ood fashion-mnist for an MNIST model).
    #[arg(long, value_name = "DATASET")]
    pub ood: Option<String>,
    /// Samples drawn for the sample-quality figures of image models (`quality/*`: FD, IS,
    /// precision, recall, class coverage), scored against the whole test set; 0 skips them.
    #[arg(long, default_value_t = 10_000)]
    pub quality_samples: usize,
    #[command(flatten)]
    pub classifier: ClassifierArg,
    #[command(flatten)]
    pub refine: RefineArgs,
}

/// `gen eval --refine`: the amortization gap of a VAE.
#[derive(Args, Debug, Clone)]
pub struct RefineArgs {
    /// Fit every test example's Gaussian p(z|x) on its own for up to STEPS Adam steps (decoder
    /// frozen; stops earlier on a plateau) and report the bounds before and after: the
    /// approximation and amortization gaps (`refine/*`). 0: no refinement.
    #[arg(long, value_name = "STEPS", default_value_t = 0)]
    pub refine: usize,
    /// Where each fit starts: the encoder's p(z|x), or the prior N(0, I).
    #[arg(long, value_enum, default_value_t = RefineFrom::Encoder)]
    pub refine_from: RefineFrom,
    /// Adam's learning rate for the fits (cut tenfold on each plateau, twice).
    #[arg(long, value_name = "LR", default_value_t = 0.01)]
    pub refine_lr: f64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefineFrom {
    Encoder,
    Prior,
}

impl From<RefineFrom> for gen_core::RefineStart {
    fn from(r: RefineFrom) -> Self {
        match r {
            RefineFrom::Encoder => gen_core::RefineStart::Encoder,
            RefineFrom::Prior => gen_core::RefineStart::Prior,
        }
    }
}

/// Which feature network scores samples.
#[derive(Args, Debug, Clone)]
pub struct ClassifierArg {
    /// The feature network for sample quality: a run directory (or `gen export` file) of a
    /// `family: bnn` point-weights classifier on the same images. Default: the one gen ships
    /// for the data set (mnist, fashion-mnist).
    #[arg(long, value_name = "RUN_DIR|FILE")]
    pub classifier: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "FD is the Fréchet distance between Gaussians fitted to the classifier's penultimate features (84 for the shipped LeNet-5): NOT the Inception FID, and comparable only between scores made by the same classifier. IS is the classifier's inception score (one split), class_kl the KL of the predicted-class histogram to the test set's, precision/recall Kynkäänniemi et al.'s (k = 3).\n\n\
Examples:\n  gen sample runs/gan-20261126-101500 -n 10000 -o samples.npy\n  gen score samples.npy --data mnist"
)]
pub struct ScoreArgs {
    /// Images as an N x 784 float32/float64 .npy (what `gen sample -o FILE.npy` writes), pixels in [0, 1].
    pub samples: PathBuf,
    /// The data set whose test set is the reference: mnist or fashion-mnist.
    #[arg(long, value_name = "DATASET")]
    pub data: String,
    #[command(flatten)]
    pub classifier: ClassifierArg,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Every figure of each run's eval.json (run `gen eval RUN_DIR` first), one run per row, blank where a figure does not apply. With -o FILE.png (also --output, --png), the runs' sample grids (samples.png of their last epoch) side by side under their names.\n\n\
Example:\n  gen compare runs/vae-* runs/gan-* --format md -o compare.png"
)]
pub struct CompareArgs {
    /// Run directories written by `gen train` and evaluated by `gen eval`.
    #[arg(required = true)]
    pub run_dirs: Vec<PathBuf>,
    /// Table format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Table)]
    pub format: CompareFormat,
    /// Also write the runs' sample grids side by side to this PNG.
    #[arg(
        long = "output",
        short = 'o',
        visible_alias = "png",
        value_name = "FILE.png"
    )]
    pub png: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareFormat {
    /// Aligned columns for the terminal.
    Table,
    Md,
    Csv,
    Json,
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  gen export runs/classifier-mnist -o classifier.safetensors")]
pub struct ExportArgs {
    /// A run directory written by `gen train`.
    pub run_dir: PathBuf,
    /// Output file (.safetensors): tensors `model.<name>` (and `buffers.<name>`), the run's config in the metadata.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Classifiers write one row per input: the class probabilities, then the predictive entropy (nats). Regressions write the predictive means of the targets, then their standard deviations (noise and the spread over weight draws). The input holds the model's input columns only, as a 2-D .npy or a numeric .csv.\n\n\
Example:\n  gen predict runs/bnn-regression-20261126-101500 inputs.csv -o predictions.npy"
)]
pub struct PredictArgs {
    /// A run directory written by `gen train` (a model that predicts, e.g. `family: bnn`).
    pub run_dir: PathBuf,
    /// The inputs: a 2-D .npy (float32/float64) or a numeric .csv, one input per row.
    pub input: PathBuf,
    /// Output file: .npy (float32) or .csv.
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  gen encode runs/vae-20261122-101500 -o codes.npy")]
pub struct EncodeArgs {
    /// A run directory written by `gen train` (a model with an encoder).
    pub run_dir: PathBuf,
    /// Output file (.npy).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
#[command(after_help = "Example:\n  gen reconstruct runs/vae-20261122-101500 -o recon.png")]
pub struct ReconstructArgs {
    /// A run directory written by `gen train` (a model with an encoder and a decoder).
    pub run_dir: PathBuf,
    /// Number of test images (8 per row).
    #[arg(short = 'n', long, default_value_t = 32)]
    pub n: usize,
    /// Output file (.png).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  gen interpolate runs/vae-20261122-101500 --from 0 --to 1 --steps 10 -o line.png"
)]
pub struct InterpolateArgs {
    /// A run directory written by `gen train` (a model with an encoder and a decoder).
    pub run_dir: PathBuf,
    /// The first end: a test example's index, or (text runs) a line of text.
    #[arg(long)]
    pub from: String,
    /// The other end, as `--from`.
    #[arg(long)]
    pub to: String,
    /// Points along the line, both ends included.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Output file: .png (images); text runs print the lines, or write them to a .txt.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "FILE.png: a grid of images for image data, a scatter over the true modes for 2-D data. \
FILE.npy: the raw samples as an N x D float32 array (pixels in [0, 1]), for checking metrics with your own code; \
written 1,000 at a time, so memory does not grow with N (a PNG shows at most 10,000 images).\n\n\
Examples:\n  gen sample runs/gan-ring-20261122-101500 -n 2500 -o ring.png\n  gen sample runs/gan-ring-20261122-101500 -n 2500 -o ring.npy"
)]
pub struct SampleArgs {
    /// A run directory written by `gen train`.
    pub run_dir: PathBuf,
    /// Number of samples.
    #[arg(short = 'n', long, default_value_t = 64)]
    pub n: usize,
    /// Output file: .png or .npy (text runs: .txt, or none to print the lines).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Seed of the sampling noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Draw every sample from this class (conditional models, e.g. `conditional: true`).
    #[arg(long)]
    pub class: Option<usize>,
    /// Draw from the parameters' moving average (a run trained with `train.ema`).
    #[arg(long)]
    pub ema: bool,
}

/// Where `gen sweep` runs its jobs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Executor {
    /// Worker processes on this machine (`--jobs` at a time).
    Local,
    /// A Slurm job array (`sbatch`), one array task per job.
    Slurm,
}

#[derive(Args, Debug)]
#[command(
    after_help = "A sweep file (sweeps/*.yaml) names a base config and the grid:\n\n  \
config: ../configs/vae.yaml      # relative to the sweep file\n  \
grid:\n    model.latent: [2, 20]\n    train.optimizer.lr: [1e-3, 3e-4]\n  \
seeds: [0, 1]                    # train.seed, the innermost axis\n  \
set: {train.epochs: 5}          # every job\n  \
eval: {importance_samples: 1000} # gen eval's options (false: no evaluation)\n\n\
The jobs are every combination, numbered once in SWEEP_DIR/sweep.json; each trains into \
SWEEP_DIR/<job>-<key=value...>/ and is evaluated there. Job states are in SWEEP_DIR/jobs/, \
their output in SWEEP_DIR/logs/. A failed job is recorded and the rest go on; Ctrl-C stops the \
running jobs at a checkpoint. --executor slurm writes SWEEP_DIR/slurm/sweep-K.sbatch (a job array, \
--requeue; each task runs gen sweep --task I SWEEP_DIR) and submits it with sbatch.\n\n\
Examples:\n  gen sweep sweeps/vae-latent.yaml --dry-run\n  \
gen sweep sweeps/vae-latent.yaml --jobs 2\n  \
gen sweep configs/gan.yaml --grid model.d_lr=1e-4,2e-4 --seeds 0,1,2 --set train.epochs=3\n  \
gen sweep --resume runs/vae-latent-20261202-101500\n  \
gen sweep sweeps/vae-latent.yaml --executor slurm --slurm-opt partition=cpu --slurm-opt time=02:00:00\n  \
gen sweep --status runs/vae-latent-20261202-101500\n  \
gen compare runs/vae-latent-20261202-101500"
)]
pub struct SweepArgs {
    /// A sweep file (sweeps/*.yaml), or a config to sweep with --grid and --seeds.
    #[arg(required_unless_present_any = ["resume", "status", "task"])]
    pub file: Option<PathBuf>,
    /// A grid axis, KEY=V1,V2,... (repeatable; the jobs are every combination of the axes).
    #[arg(long = "grid", value_name = "KEY=V1,V2")]
    pub grid: Vec<String>,
    /// Seeds (train.seed): every grid point once per seed, e.g. --seeds 0,1,2.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Override a config value in every job, as for gen train (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub sets: Vec<String>,
    /// Don't evaluate the jobs (the sweep file's `eval:` otherwise; gen eval's defaults without one).
    #[arg(long)]
    pub no_eval: bool,
    /// List the jobs (after checking every job's config) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the jobs run [default: local; with --resume, where the sweep was started].
    #[arg(long, value_enum)]
    pub executor: Option<Executor>,
    /// Jobs at a time: local processes [default: the number of cores; each gets cores/jobs
    /// threads], or Slurm's %K limit on running array tasks [default: none].
    #[arg(long)]
    pub jobs: Option<usize>,
    /// (slurm) An #SBATCH option for every task, KEY=VALUE or KEY, e.g. --slurm-opt partition=cpu
    /// --slurm-opt time=02:00:00 --slurm-opt mem=8G (repeatable; replaces gen's own cpus-per-task=1
    /// and the memory it estimates).
    #[arg(long = "slurm-opt", value_name = "KEY=VALUE")]
    pub slurm_opts: Vec<String>,
    /// The sweep directory (must not exist or be empty) instead of runs/<name>-<timestamp>/.
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub run_dir: Option<PathBuf>,
    /// Parent directory of new sweeps.
    #[arg(long, value_name = "DIR", default_value = "runs")]
    pub runs: PathBuf,
    /// Continue a sweep: finished jobs are skipped, interrupted ones continue from their checkpoints.
    #[arg(long, value_name = "SWEEP_DIR", conflicts_with_all = ["file", "status", "dry_run"])]
    pub resume: Option<PathBuf>,
    /// With --resume: run the failed jobs again too.
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,
    /// Print the state of every job of a sweep (and Slurm's, for submitted ones).
    #[arg(long, value_name = "SWEEP_DIR", conflicts_with_all = ["file", "resume"])]
    pub status: Option<PathBuf>,
    /// (internal: what each local worker and Slurm array task runs) Run job I of SWEEP_DIR.
    #[arg(long, num_args = 2, value_names = ["I", "SWEEP_DIR"], hide = true)]
    pub task: Vec<String>,
}
