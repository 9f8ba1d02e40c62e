using DreamBooth.Training.Lora;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>A parameter being trained.</summary>
/// <param name="Component">The model it belongs to (<c>unet</c>, <c>text_encoder</c>).</param>
/// <param name="Name">Its state-dict name within that model.</param>
/// <param name="Master">The float32 copy the optimizer updates (the same object as <see cref="Working"/> without mixed precision).</param>
/// <param name="Working">The parameter inside the module that runs forward and backward.</param>
public sealed record TrainedParameter(string Component, string Name, Parameter Master, Parameter Working)
{
    /// <summary><c>component.name</c>, unique across models.</summary>
    public string Key => Component + "." + Name;
}

/// <summary>
/// The trained parameters of one run and, for <c>--mixed-precision bf16</c>, their float32 master copies.
/// <para>
/// Mixed precision without autocast (TorchSharp has none): the trained modules are converted to bfloat16 and run
/// forward and backward entirely in bf16 (convolutions, matmuls and attention at bf16 speed; libtorch's CPU GroupNorm,
/// LayerNorm and softmax kernels accumulate their statistics in float32 internally). Each trained parameter keeps a
/// float32 master copy: after every backward the bf16 gradients are added into float32 master gradients
/// (<see cref="AccumulateGradients"/>, so gradient accumulation sums in fp32), gradient clipping and AdamW work on the
/// masters in fp32, and the updated masters are rounded back into the bf16 modules (<see cref="CopyMastersToWorking"/>).
/// The loss is computed in float32 from the bf16 prediction. Frozen weights (LoRA's base layers) are only kept in bf16,
/// as diffusers does with its <c>weight_dtype</c>. Without mixed precision, master and working parameter are one object
/// and these steps do nothing.
/// </para>
/// </summary>
public sealed class TrainingParameters : IDisposable
{
    private readonly List<TrainedParameter> _parameters;

    /// <summary>The dtype forward and backward run in (float32, or bfloat16 for mixed precision).</summary>
    public ScalarType ComputeDType { get; }

    /// <summary>True when master and working copies differ (bf16 mixed precision).</summary>
    public bool MixedPrecision => ComputeDType != ScalarType.Float32;

    /// <summary>The trained parameters, in module order.</summary>
    public IReadOnlyList<TrainedParameter> Parameters => _parameters;

    private TrainingParameters(List<TrainedParameter> parameters, ScalarType computeDType)
    {
        _parameters = parameters;
        ComputeDType = computeDType;
    }

    /// <summary>
    /// Makes what a DreamBooth run trains: LoRA adapters on the UNet's attention projections (and the text encoder's
    /// with <paramref name="trainTextEncoder"/>), or every UNet (and text-encoder) weight; puts the trained networks in
    /// training mode and enables gradient checkpointing on them when asked. Returns the LoRA layers (empty for a full
    /// fine-tune) and the trained modules by component name, ready for <see cref="Prepare"/>.
    /// </summary>
    public static (IReadOnlyList<LoraLayer> LoraLayers, List<(string Component, nn.Module Module)> Modules) MakeTrainable(
        Models.Unet.UNet2DConditionModel unet, Models.Clip.CLIPTextModel textEncoder, LoraSettings? lora, bool trainTextEncoder,
        bool gradientCheckpointing, Generator initGenerator)
    {
        IReadOnlyList<LoraLayer> loraLayers = [];
        if (lora is not null)
        {
            loraLayers = LoraAdapters.AddToUnet(unet, lora, initGenerator);
            if (trainTextEncoder) loraLayers = loraLayers.Concat(LoraAdapters.AddToTextEncoder(textEncoder, lora, initGenerator)).ToList();
        }
        else
        {
            foreach (var p in unet.parameters()) p.requires_grad_(true);
            if (trainTextEncoder) foreach (var p in textEncoder.parameters()) p.requires_grad_(true);
        }
        unet.train();
        if (trainTextEncoder) textEncoder.train();
        if (gradientCheckpointing)
        {
            Models.GradientCheckpoint.Enable(unet);
            if (trainTextEncoder) Models.GradientCheckpoint.Enable(textEncoder);
        }
        var modules = new List<(string Component, nn.Module Module)> { (LoraAdapters.Unet, unet) };
        if (trainTextEncoder) modules.Add((LoraAdapters.TextEncoder, textEncoder));
        return (loraLayers, modules);
    }

    /// <summary>
    /// Collects every parameter that requires a gradient in <paramref name="modules"/> (float32 modules) and, for a
    /// bf16 <paramref name="computeDType"/>, makes their float32 masters and converts the modules to bf16.
    /// </summary>
    public static TrainingParameters Prepare(IReadOnlyList<(string Component, nn.Module Module)> modules, ScalarType computeDType)
    {
        if (computeDType is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new ArgumentException($"compute dtype must be float32 or bfloat16, got {computeDType}", nameof(computeDType));
        var list = new List<TrainedParameter>();
        foreach (var (component, module) in modules)
        {
            var trained = module.named_parameters().Where(p => p.parameter.requires_grad).ToList();
            foreach (var (name, p) in trained)
                if (p.dtype != ScalarType.Float32) throw new ArgumentException($"{component}.{name} is {p.dtype}; trained parameters must start in float32");
            if (computeDType == ScalarType.Float32)
            {
                list.AddRange(trained.Select(p => new TrainedParameter(component, p.name, p.parameter, p.parameter)));
                continue;
            }
            var masters = trained.ToDictionary(p => p.name, p => new Parameter(p.parameter.detach().clone(), requires_grad: true));
            module.to(computeDType);
            var working = module.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            list.AddRange(trained.Select(p => new TrainedParameter(component, p.name, masters[p.name], working[p.name])));
        }
        return new TrainingParameters(list, computeDType);
    }

    /// <summary>Mixed precision: adds each working gradient (as float32) into its master gradient and clears the working one.</summary>
    public void AccumulateGradients()
    {
        if (!MixedPrecision) return;
        using var _ = no_grad();
        foreach (var p in _parameters)
        {
            // Every p.grad read is a new native reference: the scope drops them all, so that only the parameters hold
            // their gradients (a stray reference would keep a cleared gradient's memory until the GC finalizes it).
            using var scope = NewDisposeScope();
            if (p.Working.grad is not { } g) continue;
            // The first micro-batch's converted gradient becomes the master gradient (no extra clone); later ones add
            // in place, add_ converting bf16 → float32 as it goes (no float32 temporary per parameter and micro-batch).
            if (p.Master.grad is { } mg) mg.add_(g);
            else p.Master.grad = g.to(ScalarType.Float32);
            p.Working.grad = null;
        }
    }

    /// <summary>
    /// torch.nn.utils.clip_grad_norm_ over the master gradients: the total L2 norm (norm of the per-tensor norms), and
    /// when it exceeds <paramref name="maxNorm"/> every gradient is multiplied by maxNorm / (norm + 1e-6).
    /// </summary>
    /// <returns>The total norm before clipping (NaN or ∞ when a gradient is not finite; then nothing is scaled).</returns>
    public double ClipGradNorm(double maxNorm)
    {
        using var scope = NewDisposeScope();
        var grads = _parameters.Select(p => p.Master.grad).OfType<Tensor>().ToList();
        if (grads.Count == 0) return 0;
        var norms = stack(grads.Select(g => linalg.vector_norm(g, 2)).ToArray());
        var total = linalg.vector_norm(norms, 2);
        double totalNorm = total.item<float>();
        if (!double.IsFinite(totalNorm)) return totalNorm;
        var coef = (maxNorm / (total + 1e-6)).clamp(max: 1.0);
        using (no_grad())
            foreach (var g in grads) g.mul_(coef);
        return totalNorm;
    }

    /// <summary>Mixed precision: rounds the updated masters into the working (bf16) parameters.</summary>
    public void CopyMastersToWorking()
    {
        if (!MixedPrecision) return;
        using var _ = no_grad();
        foreach (var p in _parameters) p.Working.copy_(p.Master);
    }

    /// <summary>Clears the gradients of masters and working parameters.</summary>
    public void ZeroGrad()
    {
        foreach (var p in _parameters)
        {
            Clear(p.Master);
            if (MixedPrecision) Clear(p.Working);
        }

        static void Clear(Parameter p)
        {
            if (p.grad is not { } g) return;
            g.Dispose();
            p.grad = null;
        }
    }

    /// <summary>The master tensors by <see cref="TrainedParameter.Key"/> (live views; copy before changing).</summary>
    public Dictionary<string, Tensor> MasterTensors() => _parameters.ToDictionary(p => p.Key, p => (Tensor)p.Master, StringComparer.Ordinal);

    /// <summary>The master tensors of one component by state-dict name.</summary>
    public Dictionary<string, Tensor> MasterTensors(string component) =>
        _parameters.Where(p => p.Component == component).ToDictionary(p => p.Name, p => (Tensor)p.Master, StringComparer.Ordinal);

    /// <summary>Frees the master copies (mixed precision only; the modules own the working parameters).</summary>
    public void Dispose()
    {
        if (!MixedPrecision) return;
        foreach (var p in _parameters) p.Master.Dispose();
    }
}
