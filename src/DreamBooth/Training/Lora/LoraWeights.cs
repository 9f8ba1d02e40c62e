using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using static TorchSharp.torch;

namespace DreamBooth.Training.Lora;

/// <summary>How many layers <see cref="LoraWeights.Apply(UNet2DConditionModel, CLIPTextModel, LoraFile, double)"/> changed.</summary>
/// <param name="UnetLayers">UNet layers merged.</param>
/// <param name="TextEncoderLayers">Text encoder layers merged.</param>
/// <param name="Format">The key layout the file used (<see cref="LoraFile.Format"/>).</param>
public sealed record LoraApplyResult(int UnetLayers, int TextEncoderLayers, string Format);

/// <summary>
/// LoRA weights files in diffusers' format, <c>pytorch_lora_weights.safetensors</c>, as diffusers 0.30's
/// train_dreambooth_lora.py writes them (PEFT state dict → <c>convert_state_dict_to_diffusers</c> →
/// <c>StableDiffusionLoraLoaderMixin.save_lora_weights</c>):
/// <code>
/// unet.{module}.lora.down.weight                       [rank, in]    e.g. unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight
/// unet.{module}.lora.up.weight                         [out, rank]
/// text_encoder.{module}.lora_linear_layer.down.weight  [rank, in]    e.g. text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.down.weight
/// text_encoder.{module}.lora_linear_layer.up.weight    [out, rank]
/// </code>
/// with metadata <c>{"format": "pt"}</c>. That format has no alpha (the script always uses alpha = rank, and diffusers
/// 0.30 loads it with scale 1), so <see cref="Save"/> folds alpha/rank into the up matrix: the file then gives exactly
/// the trained model in diffusers too.
/// </summary>
public static class LoraWeights
{
    /// <summary>diffusers' default LoRA file name.</summary>
    public const string FileName = "pytorch_lora_weights.safetensors";

    /// <summary>
    /// Writes the adapters' weights (float32) to <paramref name="path"/> atomically in diffusers' key format; the up
    /// matrix carries alpha/rank. <paramref name="values"/> may supply the tensors to write instead of the layers' own
    /// (e.g. float32 masters of a bf16 run), keyed <c>{component}.{path}.lora_A.weight</c> / <c>lora_B.weight</c>.
    /// </summary>
    public static void Save(string path, IEnumerable<LoraLayer> layers, IReadOnlyDictionary<string, Tensor>? values = null)
    {
        using var scope = NewDisposeScope();
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var list = layers.ToList();
        if (list.Count == 0) throw new ArgumentException("no LoRA layers to save", nameof(layers));
        foreach (var layer in list)
        {
            var (down, up) = layer.Component switch
            {
                LoraAdapters.Unet => ("lora.down.weight", "lora.up.weight"),
                LoraAdapters.TextEncoder => ("lora_linear_layer.down.weight", "lora_linear_layer.up.weight"),
                _ => throw new ArgumentException($"unknown LoRA component '{layer.Component}'", nameof(layers)),
            };
            string prefix = $"{layer.Component}.{layer.Path}.";
            var lora = layer.Layer;
            var downValue = values?.GetValueOrDefault($"{layer.Component}.{layer.Path}.lora_A.weight") ?? lora.Down;
            var upValue = values?.GetValueOrDefault($"{layer.Component}.{layer.Path}.lora_B.weight") ?? lora.Up;
            tensors[prefix + down] = downValue.detach().to(ScalarType.Float32).contiguous();
            tensors[prefix + up] = (upValue.detach().to(ScalarType.Float32) * (lora.Alpha / lora.Rank)).contiguous();
        }
        Safetensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    /// <summary>
    /// Reads a LoRA file (diffusers, PEFT, older diffusers attention-processor, or kohya layout with diffusers module names)
    /// and merges it into the models' weights: W ← W + scale·(alpha/rank)·up·down. The text encoder may be null only
    /// when the file has no text-encoder weights. Works on models with or without <see cref="LoraLinear"/> adapters
    /// (the base weight is changed).
    /// </summary>
    /// <exception cref="DreamBoothException">One line: unreadable file, no LoRA weights, a module the models do not have, shape mismatch.</exception>
    public static LoraApplyResult Apply(UNet2DConditionModel unet, CLIPTextModel? textEncoder, string path, double scale = 1.0)
    {
        if (double.IsNaN(scale) || double.IsInfinity(scale)) throw new DreamBoothException($"--lora-scale: {scale} is not a finite number");
        using var file = LoraFile.Read(path);
        return Apply(unet, textEncoder, file, scale);
    }

    /// <summary>
    /// Merges an already read LoRA file into the models (see <see cref="Apply(UNet2DConditionModel, CLIPTextModel, string, double)"/>),
    /// e.g. one read before loading the models so that a broken file fails fast. The caller keeps and disposes <paramref name="file"/>.
    /// </summary>
    /// <exception cref="DreamBoothException">One line: a module the models do not have, shape mismatch, non-finite scale.</exception>
    public static LoraApplyResult Apply(UNet2DConditionModel unet, CLIPTextModel? textEncoder, LoraFile file, double scale = 1.0)
    {
        if (double.IsNaN(scale) || double.IsInfinity(scale)) throw new DreamBoothException($"--lora-scale: {scale} is not a finite number");
        string path = file.Path;
        if (textEncoder is null && file.Updates.Any(u => u.Component == LoraAdapters.TextEncoder))
            throw new DreamBoothException($"{path}: has text encoder LoRA weights but no text encoder was given");

        var targets = new Dictionary<string, Dictionary<string, Tensor>>
        {
            [LoraAdapters.Unet] = Weights(unet),
        };
        if (textEncoder is not null) targets[LoraAdapters.TextEncoder] = Weights(textEncoder);

        // Resolve and check everything before changing any weight, so a bad file leaves the models untouched.
        var plan = new List<(Tensor Weight, LoraUpdate Update)>();
        var planned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var update in file.Updates)
        {
            var weights = targets[update.Component];
            var module = ResolveModule(update, weights, path);
            var weight = weights[module + ".weight"];
            CheckShapes(update, weight, module, path);
            // Two key layouts can name one module differently (kohya and diffusers): one update per weight, or one would be lost.
            if (!planned.Add(update.Component + "." + module))
                throw new DreamBoothException($"{path}: LoRA weights for {update.Component}.{module} appear a second time (keys of two LoRA formats for one module?)");
            plan.Add((weight, update));
        }

        // Two passes, one module at a time (memory: one merged weight at a time, not all of them): the first checks that
        // no merged weight overflows (--lora-scale 1e30 is named here and the models stay untouched, instead of sampling
        // black images), the second merges.
        using (no_grad())
        {
            foreach (var (weight, update) in plan)
            {
                using var scope = NewDisposeScope();
                if (!isfinite(Merged(weight, update, scale)).all().item<bool>())
                {
                    long rank = update.Down.shape[0];
                    throw new DreamBoothException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"{path}: merged with --lora-scale {scale} (alpha / rank = {(update.Alpha ?? rank) / rank}), the weights of {update.Component}.{update.Path} overflow; use a smaller scale"));
                }
            }
            foreach (var (weight, update) in plan)
            {
                using var scope = NewDisposeScope();
                weight.copy_(Merged(weight, update, scale));
            }
        }
        return new LoraApplyResult(plan.Count(p => p.Update.Component == LoraAdapters.Unet),
            plan.Count(p => p.Update.Component == LoraAdapters.TextEncoder), file.Format);
    }

    // W + scale · (alpha / rank) · B·A, computed in float32, in W's dtype.
    private static Tensor Merged(Tensor weight, LoraUpdate update, double scale)
    {
        long rank = update.Down.shape[0];
        double factor = scale * (update.Alpha ?? rank) / rank;
        var down = update.Down.reshape(rank, -1);
        var up = update.Up.reshape(update.Up.shape[0], rank);
        return (weight.to(ScalarType.Float32) + up.matmul(down).reshape(weight.shape) * factor).to(weight.dtype);
    }

    // The model's weight parameters by module path + ".weight" (a LoraLinear keeps its base under the same key).
    private static Dictionary<string, Tensor> Weights(nn.Module model) =>
        model.named_parameters().Where(p => p.name.EndsWith(".weight", StringComparison.Ordinal)
                                            && !p.name.Contains(".lora_A.", StringComparison.Ordinal)
                                            && !p.name.Contains(".lora_B.", StringComparison.Ordinal))
            .ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);

    private static string ResolveModule(LoraUpdate update, Dictionary<string, Tensor> weights, string path)
    {
        if (!update.FlattenedName)
        {
            if (weights.ContainsKey(update.Path + ".weight")) return update.Path;
            throw new DreamBoothException($"{path}: LoRA weights for '{update.Component}.{update.Path}', which the {update.Component} does not have (LoRA for another model architecture?)");
        }
        // kohya names flatten the module path with underscores; find the module whose path flattens the same way.
        var match = weights.Keys.Select(k => k[..^".weight".Length]).Where(m => m.Replace('.', '_') == update.Path).ToList();
        if (match.Count == 1) return match[0];
        if (update.Path.StartsWith("input_blocks", StringComparison.Ordinal) || update.Path.StartsWith("middle_block", StringComparison.Ordinal)
            || update.Path.StartsWith("output_blocks", StringComparison.Ordinal))
            throw new DreamBoothException($"{path}: kohya LoRA with original Stable Diffusion block names ('{update.Path}') is not supported; convert it to diffusers format first");
        throw new DreamBoothException($"{path}: LoRA weights for '{update.Path}', which the {update.Component} does not have (LoRA for another model architecture?)");
    }

    private static void CheckShapes(LoraUpdate u, Tensor weight, string module, string path)
    {
        string Shape(Tensor t) => "[" + string.Join(", ", t.shape) + "]";
        if (u.Down.dim() < 2 || u.Up.dim() < 2)
            throw new DreamBoothException($"{path}: LoRA for {module}: down {Shape(u.Down)} / up {Shape(u.Up)} are not matrices");
        long rank = u.Down.shape[0];
        if (rank < 1) throw new DreamBoothException($"{path}: LoRA for {module}: rank 0 (down {Shape(u.Down)}), an empty update");
        bool linear = weight.dim() == 2 && u.Down.dim() == 2 && u.Up.dim() == 2;
        bool pointwiseConv = weight.dim() == 4 && weight.shape[2] == 1 && weight.shape[3] == 1 && u.Down.dim() == 4 && u.Up.dim() == 4
                             && u.Down.shape[2] == 1 && u.Down.shape[3] == 1 && u.Up.shape[2] == 1 && u.Up.shape[3] == 1;
        if (!linear && !pointwiseConv)
            throw new DreamBoothException($"{path}: LoRA for {module}: down {Shape(u.Down)} / up {Shape(u.Up)} do not fit weight {Shape(weight)} (only Linear and 1×1 conv layers are supported)");
        if (u.Up.shape[1] != rank || u.Up.shape[0] != weight.shape[0] || u.Down.shape[1] != weight.shape[1])
            throw new DreamBoothException($"{path}: LoRA for {module}: down {Shape(u.Down)} / up {Shape(u.Up)} do not fit weight {Shape(weight)}");
    }
}
