using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Training.Lora;

/// <summary>
/// A Linear layer with a low-rank adapter (Hu et al. 2021): y = x·Wᵀ + b + (alpha/rank)·multiplier·B(A(x)), with the
/// base W and b frozen and only A (<c>lora_A</c>, [rank, in]) and B (<c>lora_B</c>, [out, rank]) trained.
/// It takes over the wrapped Linear's own parameters, so the base keys stay <c>to_q.weight</c> etc. and the adapter adds
/// <c>to_q.lora_A.weight</c> and <c>to_q.lora_B.weight</c>. Install it with <see cref="LoraAdapters"/>.
/// </summary>
public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly Parameter? bias;
    private readonly Linear lora_A;
    private readonly Linear lora_B;

    /// <summary>The rank r.</summary>
    public int Rank { get; }

    /// <summary>alpha; the adapter output is scaled by alpha / rank.</summary>
    public double Alpha { get; }

    /// <summary>An extra factor on the adapter output (diffusers' <c>lora_scale</c>; 1 while training, 0 disables the adapter).</summary>
    public double Multiplier { get; set; } = 1.0;

    /// <summary>The frozen base weight [out, in].</summary>
    public Parameter Weight => weight;

    /// <summary>The adapter's down projection A [rank, in].</summary>
    public Parameter Down => lora_A.weight!;

    /// <summary>The adapter's up projection B [out, rank].</summary>
    public Parameter Up => lora_B.weight!;

    /// <summary>Wraps <paramref name="baseLayer"/>, freezing its parameters; A starts per <paramref name="settings"/>, B at zero.</summary>
    public LoraLinear(Linear baseLayer, LoraSettings settings, Generator? generator = null) : base(nameof(LoraLinear))
    {
        ArgumentNullException.ThrowIfNull(baseLayer);
        if (settings.Rank < 1) throw new ArgumentOutOfRangeException(nameof(settings), "rank must be at least 1");
        weight = baseLayer.weight!;
        bias = baseLayer.bias;
        weight.requires_grad_(false);
        bias?.requires_grad_(false);
        long outFeatures = weight.shape[0], inFeatures = weight.shape[1];
        Rank = settings.Rank;
        Alpha = settings.Alpha;
        lora_A = nn.Linear(inFeatures, Rank, hasBias: false, device: weight.device, dtype: weight.dtype);
        lora_B = nn.Linear(Rank, outFeatures, hasBias: false, device: weight.device, dtype: weight.dtype);
        using (no_grad())
        {
            using var init = settings.Init switch
            {
                // PEFT "gaussian": normal(0, 1/r).
                LoraInit.Gaussian => randn([Rank, inFeatures], generator: generator) / Rank,
                // kaiming_uniform_(a=√5): bound = gain·√(3/fan_in) with gain = √(2/(1+5)), i.e. 1/√fan_in.
                _ => (rand([Rank, inFeatures], generator: generator) * 2 - 1) / Math.Sqrt(inFeatures),
            };
            lora_A.weight!.copy_(init);
            lora_B.weight!.zero_();
        }
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var output = nn.functional.linear(input, weight, bias);
        double scale = Alpha / Rank * Multiplier;
        if (scale != 0) output = output + lora_B.call(lora_A.call(input)) * scale;
        return output.MoveToOuterDisposeScope();
    }
}
