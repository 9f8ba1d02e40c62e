using DreamBooth.IO;
using DreamBooth.Models.Clip;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Models.Clip;

/// <summary>Small CLIP text configs, seeded weights and on-disk folders for unit tests (no fixtures needed).</summary>
internal static class TinyClip
{
    public static CLIPTextConfig Config(string hiddenAct = "quick_gelu", int eosTokenId = 99) => new()
    {
        VocabSize = 100,
        HiddenSize = 16,
        IntermediateSize = 24,
        ProjectionDim = 8,
        NumHiddenLayers = 3,
        NumAttentionHeads = 2,
        MaxPositionEmbeddings = 12,
        HiddenAct = hiddenAct,
        BosTokenId = 98,
        EosTokenId = eosTokenId,
    };

    /// <summary>Overwrites every parameter with seeded N(0, 0.3²) values (LayerNorm weights around 1), independent of the global RNG.</summary>
    public static T Randomize<T>(T module, long seed) where T : nn.Module
    {
        using var generator = new Generator((ulong)seed, CPU);
        using var _ = no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            using var noise = randn(p.shape, p.dtype, generator: generator) * 0.3;
            if (name.Contains("layer_norm") && name.EndsWith(".weight")) noise.add_(1.0);
            p.copy_(noise);
        }
        return module;
    }

    /// <summary>[B, L] ids: bos, random ids below eos, eos at <paramref name="eosPositions"/>[b], then eos padding.</summary>
    public static Tensor Ids(CLIPTextConfig config, long length, long[] eosPositions, long seed)
    {
        using var generator = new Generator((ulong)seed, CPU);
        var ids = randint(0, config.EosTokenId, [eosPositions.Length, length], ScalarType.Int64, generator: generator);
        for (int b = 0; b < eosPositions.Length; b++)
        {
            ids[b, 0] = config.BosTokenId;
            ids[b, TensorIndex.Slice(eosPositions[b])] = config.EosTokenId;
        }
        return ids;
    }

    /// <summary>[B, L] padding mask: 1 up to and including eos, 0 after.</summary>
    public static Tensor Mask(long length, long[] eosPositions)
    {
        var mask = zeros(eosPositions.Length, length, ScalarType.Int64);
        for (int b = 0; b < eosPositions.Length; b++) mask[b, TensorIndex.Slice(0, eosPositions[b] + 1)] = 1;
        return mask;
    }

    /// <summary>Writes <paramref name="model"/>'s config and weights (plus <paramref name="extra"/> tensors) as a text-encoder folder.</summary>
    public static string WriteFolder(nn.Module model, CLIPTextConfig config, IReadOnlyDictionary<string, Tensor>? extra = null)
    {
        var dir = Directory.CreateTempSubdirectory("clip-test-").FullName;
        ConfigJson.Write(Path.Combine(dir, "config.json"), config);
        var tensors = model.state_dict().AsEnumerable();
        if (extra is not null) tensors = tensors.Concat(extra);
        Safetensors.Save(Path.Combine(dir, "model.safetensors"), tensors);
        return dir;
    }
}
