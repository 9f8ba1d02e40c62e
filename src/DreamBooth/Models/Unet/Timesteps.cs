using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>
/// diffusers' <c>Timesteps</c>: the sinusoidal embedding of (possibly fractional) timesteps, computed in float32.
/// With half = numChannels/2 and f_k = exp(−ln(maxPeriod)·k / (half − downscaleFreqShift)), k = 0…half−1, the result
/// is [sin(t·f), cos(t·f)], or [cos(t·f), sin(t·f)] with <c>flip_sin_to_cos</c>; an odd width is zero-padded.
/// </summary>
public sealed class Timesteps : nn.Module<Tensor, Tensor>
{
    private readonly int _numChannels;
    private readonly bool _flipSinToCos;
    private readonly double _downscaleFreqShift;

    /// <param name="numChannels">Embedding width.</param>
    /// <param name="flipSinToCos">Put the cosines first.</param>
    /// <param name="downscaleFreqShift">diffusers' freq_shift.</param>
    public Timesteps(int numChannels, bool flipSinToCos, double downscaleFreqShift) : base(nameof(Timesteps))
    {
        _numChannels = numChannels;
        _flipSinToCos = flipSinToCos;
        _downscaleFreqShift = downscaleFreqShift;
        RegisterComponents();
    }

    /// <summary>Embeds timesteps [N] (any numeric dtype) as float32 [N, numChannels].</summary>
    public override Tensor forward(Tensor timesteps) => Embed(timesteps, _numChannels, _flipSinToCos, _downscaleFreqShift);

    /// <summary>diffusers' <c>get_timestep_embedding</c>; the operation order matches it so float32 rounding does too.</summary>
    public static Tensor Embed(Tensor timesteps, int embeddingDim, bool flipSinToCos, double downscaleFreqShift, double scale = 1.0, int maxPeriod = 10000)
    {
        if (timesteps.dim() != 1)
            throw new ArgumentException($"timesteps must be 1-D, got shape [{string.Join(", ", timesteps.shape)}]", nameof(timesteps));
        using var scope = NewDisposeScope();
        int half = embeddingDim / 2;
        var exponent = arange(0, half, dtype: ScalarType.Float32, device: timesteps.device) * (-Math.Log(maxPeriod));
        exponent = exponent / (half - downscaleFreqShift);
        var args = timesteps.unsqueeze(1).to(ScalarType.Float32) * exp(exponent).unsqueeze(0);
        if (scale != 1.0) args = args * scale;
        var (sin, cos) = (args.sin(), args.cos());
        var emb = flipSinToCos ? cat([cos, sin], -1) : cat([sin, cos], -1);
        if (embeddingDim % 2 == 1) emb = nn.functional.pad(emb, (0, 1, 0, 0));
        return emb.MoveToOuterDisposeScope();
    }
}
