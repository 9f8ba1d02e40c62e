using DreamBooth.Models.Blocks;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Training.Lora;

/// <summary>One installed adapter: the model it is in, the module path of the wrapped projection, and the layer.</summary>
/// <param name="Component"><c>unet</c> or <c>text_encoder</c>.</param>
/// <param name="Path">Module path of the wrapped projection, e.g. <c>down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q</c>.</param>
/// <param name="Layer">The adapter layer.</param>
public sealed record LoraLayer(string Component, string Path, LoraLinear Layer);

/// <summary>
/// Installs LoRA adapters on the attention projections diffusers' train_dreambooth_lora.py targets: the UNet's
/// <c>to_q</c>, <c>to_k</c>, <c>to_v</c>, <c>to_out.0</c> and, when the text encoder is trained, CLIP's <c>q_proj</c>,
/// <c>k_proj</c>, <c>v_proj</c>, <c>out_proj</c>. Base weights are frozen; the adapters' parameters are the only new ones.
/// </summary>
public static class LoraAdapters
{
    /// <summary>The UNet projections that get adapters.</summary>
    public static IReadOnlyList<string> UnetTargets { get; } = ["to_q", "to_k", "to_v", "to_out.0"];

    /// <summary>The CLIP text encoder projections that get adapters.</summary>
    public static IReadOnlyList<string> TextEncoderTargets { get; } = ["q_proj", "k_proj", "v_proj", "out_proj"];

    /// <summary>Component name of the UNet in adapter lists and LoRA files.</summary>
    public const string Unet = "unet";

    /// <summary>Component name of the text encoder in adapter lists and LoRA files.</summary>
    public const string TextEncoder = "text_encoder";

    /// <summary>
    /// Freezes every UNet parameter and wraps each attention projection in a <see cref="LoraLinear"/>; the A matrices
    /// are drawn from <paramref name="generator"/> in module order. Afterwards only the adapters require gradients.
    /// </summary>
    public static IReadOnlyList<LoraLayer> AddToUnet(UNet2DConditionModel unet, LoraSettings settings, Generator? generator = null)
    {
        foreach (var p in unet.parameters()) p.requires_grad_(false);
        var layers = new List<LoraLayer>();
        foreach (var (path, attention) in unet.named_modules().Where(m => m.module is Attention).Select(m => (m.name, (Attention)m.module)).ToList())
        {
            foreach (var target in UnetTargets)
            {
                var current = target switch { "to_q" => attention.ToQ, "to_k" => attention.ToK, "to_v" => attention.ToV, _ => attention.ToOut };
                var lora = new LoraLinear(AsLinear(current, $"{path}.{target}"), settings, generator);
                attention.ReplaceProjection(target, lora);
                layers.Add(new LoraLayer(Unet, $"{path}.{target}", lora));
            }
        }
        if (layers.Count == 0) throw new DreamBoothException("LoRA: the UNet has no attention layers to adapt");
        return layers;
    }

    /// <summary>Freezes every text encoder parameter and wraps each CLIP self-attention projection in a <see cref="LoraLinear"/>.</summary>
    public static IReadOnlyList<LoraLayer> AddToTextEncoder(CLIPTextModel textEncoder, LoraSettings settings, Generator? generator = null)
    {
        foreach (var p in textEncoder.parameters()) p.requires_grad_(false);
        var layers = new List<LoraLayer>();
        foreach (var (path, attention) in textEncoder.named_modules().Where(m => m.module is CLIPAttention).Select(m => (m.name, (CLIPAttention)m.module)).ToList())
        {
            foreach (var target in TextEncoderTargets)
            {
                var lora = new LoraLinear(AsLinear(attention.Projection(target), $"{path}.{target}"), settings, generator);
                attention.ReplaceProjection(target, lora);
                layers.Add(new LoraLayer(TextEncoder, $"{path}.{target}", lora));
            }
        }
        if (layers.Count == 0) throw new DreamBoothException("LoRA: the text encoder has no attention layers to adapt");
        return layers;
    }

    /// <summary>The adapters installed in <paramref name="model"/>, with their module paths, in module order.</summary>
    public static IReadOnlyList<LoraLayer> Find(nn.Module model, string component) =>
        model.named_modules().Where(m => m.module is LoraLinear).Select(m => new LoraLayer(component, m.name, (LoraLinear)m.module)).ToList();

    private static Linear AsLinear(nn.Module<Tensor, Tensor> module, string path) => module switch
    {
        Linear linear => linear,
        LoraLinear => throw new DreamBoothException($"LoRA: {path} already has an adapter"),
        _ => throw new DreamBoothException($"LoRA: {path} is a {module.GetType().Name}, not a Linear layer"),
    };
}
