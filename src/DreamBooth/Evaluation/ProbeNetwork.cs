using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace DreamBooth.Evaluation;

/// <summary>Everything the probe computes for a batch (tensors owned by the caller's dispose scope).</summary>
/// <param name="Features">Shared features [N, <see cref="ProbeConfig.FeatureDim"/>] that every head reads.</param>
/// <param name="Identity">Unit-length identity embedding [N, <see cref="ProbeConfig.IdentityDim"/>].</param>
/// <param name="Logits">Logits [N, classes] per head, keyed by head name (<see cref="ProbeConfig.Heads"/>).</param>
/// <param name="MaskLogits">Subject-mask logits [N, 1, 16, 16].</param>
/// <param name="FeatureMaps">The scene trunk's stage outputs (only when requested).</param>
public sealed record ProbeOutputs(Tensor Features, Tensor Identity, IReadOnlyDictionary<string, Tensor> Logits, Tensor MaskLogits, IReadOnlyList<Tensor> FeatureMaps);

/// <summary>
/// The probe CNN (see <see cref="ProbeConfig"/>). <c>forward</c> maps images [N, 3, 64, 64] in [-1, 1] to the
/// penultimate features [N, FeatureDim]; <see cref="Run"/> also gives the head logits, the L2-normalised identity
/// embedding, the subject-mask logits and the scene trunk's feature maps (for the perceptual, LPIPS-like distance).
/// </summary>
public sealed class ProbeNetwork : Module<Tensor, Tensor>
{
    private readonly ModuleList<ProbeStage> scene;
    private readonly Conv2d mask_head;
    private readonly ModuleList<ProbeStage> subject;
    private readonly Linear proj;
    private readonly ModuleDict<Linear> heads;
    private readonly Linear identity;

    public ProbeNetwork(ProbeConfig config) : base(nameof(ProbeNetwork))
    {
        Config = config;
        scene = Stages(config.SceneChannels);
        subject = Stages(config.SubjectChannels);
        mask_head = Conv2d(config.SceneChannels[1], 1, 1);
        proj = Linear(2 * config.SceneChannels[^1] + 2 * config.SubjectChannels[^1], config.FeatureDim);
        heads = new ModuleDict<Linear>();
        foreach (var (name, count) in config.Heads) heads.Add((name, Linear(config.FeatureDim, count)));
        identity = Linear(config.FeatureDim, config.IdentityDim);
        RegisterComponents();
    }

    public ProbeConfig Config { get; }

    public override Tensor forward(Tensor x) => Run(x, withMaps: false).Features;

    /// <summary>
    /// Runs the probe on images in [-1, 1]. The subject crop follows <paramref name="cropMask"/> when given (any
    /// resolution; training passes the renderer's mask), else the predicted mask.
    /// </summary>
    public ProbeOutputs Run(Tensor x, bool withMaps, Tensor? cropMask = null, Tensor? boxJitter = null)
    {
        var image = x;
        var maps = new List<Tensor>();
        Tensor? second = null;
        for (int i = 0; i < scene.Count; i++)
        {
            x = scene[i].forward(x);
            if (withMaps) maps.Add(x);
            if (i == 1) second = x;
        }
        var maskLogits = mask_head.forward(second!);
        var crop = SubjectCrop.Cut(image, cropMask ?? functional.sigmoid(maskLogits).detach(), Config.CropSize, boxJitter);
        foreach (var stage in subject) crop = stage.forward(crop);
        var pooled = cat(new[] { x.mean(new long[] { 2, 3 }), x.amax(new long[] { 2, 3 }), crop.mean(new long[] { 2, 3 }), crop.amax(new long[] { 2, 3 }) }, 1);
        var features = functional.silu(proj.forward(pooled));
        var logits = new Dictionary<string, Tensor>();
        foreach (var name in heads.keys()) logits[name] = heads[name].forward(features);
        var id = functional.normalize(identity.forward(features), p: 2, dim: 1, eps: 1e-8);
        return new ProbeOutputs(features, id, logits, maskLogits, maps);
    }

    /// <summary>Subject-mask logits [N, 1, 16, 16] of images in [-1, 1] (the first two scene stages only).</summary>
    public Tensor PredictMask(Tensor x) => mask_head.forward(scene[1].forward(scene[0].forward(x)));

    /// <summary>Re-initialises every parameter from <paramref name="generator"/> (He-uniform weights, zero biases, unit norms),
    /// so that training does not depend on TorchSharp's global random state.</summary>
    public void Initialize(Generator generator)
    {
        using var _ = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith(".bias")) p.zero_();
            else if (p.dim() == 1) p.fill_(1);
            else
            {
                long fanIn = p.shape.Skip(1).Aggregate(1L, (a, b) => a * b);
                double bound = Math.Sqrt(6.0 / fanIn);
                // Not nn.init.uniform_: in TorchSharp 0.107 it ignores the generator argument.
                using var u = rand(p.shape, generator: generator);
                p.copy_(u.mul_(2 * bound).sub_(bound));
            }
        }
    }

    private static ModuleList<ProbeStage> Stages(int[] channels)
    {
        var list = new ModuleList<ProbeStage>();
        int cin = 3;
        foreach (var c in channels)
        {
            list.Add(new ProbeStage(cin, c));
            cin = c;
        }
        return list;
    }

    /// <summary>A stride-2 3×3 convolution and a 3×3 convolution, each followed by batch normalisation and SiLU.</summary>
    private sealed class ProbeStage : Module<Tensor, Tensor>
    {
        private readonly Conv2d down;
        private readonly ProbeBatchNorm norm1;
        private readonly Conv2d conv;
        private readonly ProbeBatchNorm norm2;

        public ProbeStage(int cin, int cout) : base(nameof(ProbeStage))
        {
            down = Conv2d(cin, cout, 3, stride: 2, padding: 1, bias: false);
            norm1 = new ProbeBatchNorm(cout);
            conv = Conv2d(cout, cout, 3, padding: 1, bias: false);
            norm2 = new ProbeBatchNorm(cout);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            x = functional.silu(norm1.forward(down.forward(x)));
            return functional.silu(norm2.forward(conv.forward(x)));
        }
    }

    /// <summary>
    /// Batch normalisation with running statistics (used in eval mode). Batch rather than group normalisation because
    /// per-image normalisation of the first layers erases a crop's absolute colour, which the probe must read.
    /// Hand-written: TorchSharp 0.107's BatchNorm2d crashed sporadically in its num_batches_tracked.add_(1) here.
    /// </summary>
    private sealed class ProbeBatchNorm : Module<Tensor, Tensor>
    {
        private readonly Parameter weight;
        private readonly Parameter bias;
        private readonly Tensor running_mean;
        private readonly Tensor running_var;

        public ProbeBatchNorm(int channels) : base(nameof(ProbeBatchNorm))
        {
            weight = Parameter(ones(channels));
            bias = Parameter(zeros(channels));
            running_mean = zeros(channels);
            running_var = ones(channels);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => functional.batch_norm(x, running_mean, running_var, weight, bias, training, 0.1, 1e-5);
    }
}
