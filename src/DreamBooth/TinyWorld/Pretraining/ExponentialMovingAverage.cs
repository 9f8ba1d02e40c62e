using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.TinyWorld.Pretraining;

/// <summary>
/// An exponential moving average of parameters (diffusers' <c>EMAModel</c> with its warm-up): after optimizer step k
/// (1-based) the average moves by decay_k = min(<see cref="MaxDecay"/>, (1 + k)/(10 + k)), so early averages are not
/// dominated by the random initial weights. The shadow tensors are float32 copies keyed like the parameters.
/// </summary>
public sealed class ExponentialMovingAverage : IDisposable
{
    private readonly IReadOnlyList<(string Name, Parameter Param)> _parameters;
    private readonly Dictionary<string, Tensor> _shadow = new(StringComparer.Ordinal);

    /// <summary>Starts the average at the current parameter values.</summary>
    public ExponentialMovingAverage(IReadOnlyList<(string Name, Parameter Param)> parameters, double maxDecay)
    {
        _parameters = parameters;
        MaxDecay = maxDecay;
        using var _ = no_grad();
        foreach (var (name, p) in parameters) _shadow[name] = p.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>The largest decay (reached after the warm-up).</summary>
    public double MaxDecay { get; }

    /// <summary>The decay used after optimizer step <paramref name="step"/> (1-based).</summary>
    public double DecayAt(long step) => Math.Min(MaxDecay, (1.0 + step) / (10.0 + step));

    /// <summary>shadow ← decay·shadow + (1 − decay)·param, after optimizer step <paramref name="step"/>.</summary>
    public void Update(long step)
    {
        double weight = 1 - DecayAt(step);
        using var _ = no_grad();
        foreach (var (name, p) in _parameters) _shadow[name].lerp_(p, weight);
    }

    /// <summary>The averaged tensors by parameter name (live views; copy before mutating).</summary>
    public IReadOnlyDictionary<string, Tensor> Shadow => _shadow;

    /// <summary>Replaces the averages with saved ones (same names and shapes).</summary>
    public void Load(IReadOnlyDictionary<string, Tensor> saved, string source)
    {
        using var _ = no_grad();
        foreach (var (name, shadow) in _shadow)
        {
            if (!saved.TryGetValue(name, out var t) || !t.shape.SequenceEqual(shadow.shape))
                throw new DreamBoothException($"{source}: the moving average of '{name}' is missing or has another shape");
            shadow.copy_(t);
        }
    }

    public void Dispose()
    {
        foreach (var t in _shadow.Values) t.Dispose();
        _shadow.Clear();
    }
}
