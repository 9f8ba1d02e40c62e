using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>A named group of parameters with its own learning rate and weight decay (e.g. UNet vs text encoder).</summary>
/// <param name="Name">Group name; prefixes the parameter names in the optimizer state (e.g. "unet").</param>
/// <param name="Parameters">Parameters by state-dict name.</param>
/// <param name="LearningRate">Base learning rate; the schedule factor multiplies it.</param>
/// <param name="WeightDecay">Decoupled weight decay.</param>
public sealed record OptimizerGroup(string Name, IReadOnlyList<(string Name, Parameter Param)> Parameters, double LearningRate, double WeightDecay);

/// <summary>
/// AdamW with decoupled weight decay, step for step the same arithmetic as torch.optim.AdamW (single-tensor path):
/// p ← p·(1 − lr·wd); m ← lerp(m, g, 1 − β1); v ← β2·v + (1 − β2)·g²; p ← p − lr/(1 − β1^t) · m / (√v/√(1 − β2^t) + ε).
/// Written here instead of using TorchSharp's AdamW so that its state (moments and step) is plain named tensors that a
/// checkpoint stores in safetensors and restores bit-exactly, and so that it can update fp32 master weights whose
/// gradients come from a bf16 compute copy.
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly List<OptimizerGroup> _groups;
    private readonly Dictionary<string, (Tensor M, Tensor V)> _state = new(StringComparer.Ordinal);

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }

    /// <summary>Optimizer steps taken so far (t in the bias corrections).</summary>
    public long StepCount { get; private set; }

    public IReadOnlyList<OptimizerGroup> Groups => _groups;

    public AdamW(IEnumerable<OptimizerGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        _groups = groups.ToList();
        if (beta1 is < 0 or >= 1) throw new DreamBoothException($"--adam-beta1: {beta1} is not in [0, 1)");
        if (beta2 is < 0 or >= 1) throw new DreamBoothException($"--adam-beta2: {beta2} is not in [0, 1)");
        if (epsilon <= 0 || double.IsNaN(epsilon)) throw new DreamBoothException($"--adam-epsilon: {epsilon} must be > 0");
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var g in _groups)
            foreach (var (name, _) in g.Parameters)
                if (!seen.Add(Key(g, name))) throw new ArgumentException($"parameter '{Key(g, name)}' appears twice");
    }

    private static string Key(OptimizerGroup g, string name) => g.Name + "." + name;

    /// <summary>One update of every parameter that has a gradient; <paramref name="lrFactor"/> scales each group's base LR.</summary>
    public void Step(double lrFactor = 1.0)
    {
        StepCount++;
        double bc1 = 1 - Math.Pow(Beta1, StepCount);
        double bc2Sqrt = Math.Sqrt(1 - Math.Pow(Beta2, StepCount));
        using var _ = no_grad();
        foreach (var g in _groups)
        {
            double lr = g.LearningRate * lrFactor;
            foreach (var (name, p) in g.Parameters)
            {
                // The scope first: reading p.grad makes a new native reference, which must not outlive the update.
                using var scope = NewDisposeScope();
                var grad = p.grad;
                if (grad is null) continue;
                var (m, v) = StateFor(Key(g, name), p);
                if (g.WeightDecay != 0) p.mul_(1 - lr * g.WeightDecay);
                m.lerp_(grad, 1 - Beta1);
                v.mul_(Beta2).addcmul_(grad, grad, 1 - Beta2);
                var denom = v.sqrt().div_(bc2Sqrt).add_(Epsilon);
                p.addcdiv_(m, denom, -lr / bc1);
            }
        }
    }

    /// <summary>Clears every gradient (sets it to None, like zero_grad(set_to_none=True)).</summary>
    public void ZeroGrad()
    {
        foreach (var g in _groups)
            foreach (var (_, p) in g.Parameters)
                if (p.grad is { } grad)
                {
                    grad.Dispose();
                    p.grad = null;
                }
    }

    private (Tensor M, Tensor V) StateFor(string key, Parameter p)
    {
        if (!_state.TryGetValue(key, out var s))
        {
            s = (zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
            _state[key] = s;
        }
        return s;
    }

    /// <summary>The optimizer state as named tensors (views of the live state; copy before mutating).</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, (m, v)) in _state)
        {
            d["exp_avg." + k] = m;
            d["exp_avg_sq." + k] = v;
        }
        return d;
    }

    /// <summary>Restores state saved by <see cref="StateTensors"/> with the given step count; names and shapes must match.</summary>
    public void LoadState(IReadOnlyDictionary<string, Tensor> tensors, long stepCount, string source)
    {
        var expected = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var byKey = new Dictionary<string, Parameter>(StringComparer.Ordinal);
        foreach (var g in _groups)
            foreach (var (name, p) in g.Parameters)
            {
                byKey[Key(g, name)] = p;
            }
        foreach (var name in tensors.Keys)
        {
            string key = name.StartsWith("exp_avg_sq.", StringComparison.Ordinal) ? name["exp_avg_sq.".Length..]
                : name.StartsWith("exp_avg.", StringComparison.Ordinal) ? name["exp_avg.".Length..]
                : throw new DreamBoothException($"{source}: unexpected optimizer state tensor '{name}'");
            if (!byKey.TryGetValue(key, out var p))
                throw new DreamBoothException($"{source}: optimizer state for '{key}', which this model does not train (different model or options?)");
            if (!tensors[name].shape.SequenceEqual(p.shape))
                throw new DreamBoothException($"{source}: optimizer state '{name}' has shape [{string.Join(", ", tensors[name].shape)}] but the parameter has [{string.Join(", ", p.shape)}]");
        }
        Reset();
        using var _ = no_grad();
        foreach (var (key, p) in byKey)
        {
            bool hasM = tensors.TryGetValue("exp_avg." + key, out var m);
            bool hasV = tensors.TryGetValue("exp_avg_sq." + key, out var v);
            if (hasM != hasV) throw new DreamBoothException($"{source}: optimizer state for '{key}' is incomplete");
            if (!hasM) continue;
            var (sm, sv) = StateFor(key, p);
            sm.copy_(m!);
            sv.copy_(v!);
        }
        StepCount = stepCount;
    }

    private void Reset()
    {
        foreach (var (m, v) in _state.Values)
        {
            m.Dispose();
            v.Dispose();
        }
        _state.Clear();
        StepCount = 0;
    }

    public void Dispose() => Reset();
}
