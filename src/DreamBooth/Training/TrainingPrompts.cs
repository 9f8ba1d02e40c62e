using DreamBooth.Models.Clip;
using DreamBooth.Tokenization;
using static TorchSharp.torch;

namespace DreamBooth.Training;

/// <summary>
/// The prompts of a run (instance prompt or per-image captions, class prompt), tokenized once. With a frozen text encoder
/// their embeddings (last_hidden_state, no attention mask, as diffusers' train_dreambooth.py) are computed once too;
/// with <c>--train-text-encoder</c> they are recomputed every step through the trained encoder.
/// </summary>
public sealed class TrainingPrompts : IDisposable
{
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private readonly Tensor _inputIds; // [P, L] int64
    private Tensor? _cached;           // [P, L, D] float32

    /// <summary>The distinct prompts, in first-seen order.</summary>
    public IReadOnlyList<string> Prompts { get; }

    /// <summary>Tokenizes the distinct prompts of <paramref name="prompts"/> (truncation warnings go to <paramref name="warn"/>).</summary>
    public TrainingPrompts(ClipTokenizer tokenizer, IEnumerable<string> prompts, Action<string>? warn = null)
    {
        var distinct = new List<string>();
        foreach (var p in prompts)
            if (_index.TryAdd(p, distinct.Count)) distinct.Add(p);
        if (distinct.Count == 0) throw new ArgumentException("no prompts", nameof(prompts));
        Prompts = distinct;
        _inputIds = tokenizer.EncodeBatch(distinct, warn).DetachFromDisposeScope();
    }

    /// <summary>Whether the embeddings are cached (frozen text encoder).</summary>
    public bool IsCached => _cached is not null;

    /// <summary>Encodes every prompt once with a frozen text encoder (no grad) and keeps the float32 results.</summary>
    public void Cache(CLIPTextModel textEncoder)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var hidden = textEncoder.forward(_inputIds).LastHiddenState.to(ScalarType.Float32);
        _cached?.Dispose();
        _cached = hidden.DetachFromDisposeScope();
    }

    /// <summary>
    /// Text embeddings [B, L, D] for a batch of prompts: from the cache, or, when <paramref name="trainedEncoder"/> is
    /// given, through it (with gradients).
    /// </summary>
    public Tensor ForBatch(IReadOnlyList<string> prompts, CLIPTextModel? trainedEncoder = null)
    {
        using var scope = NewDisposeScope();
        var rows = tensor(prompts.Select(p => (long)(_index.TryGetValue(p, out var i) ? i : throw new ArgumentException($"unknown prompt '{p}'"))).ToArray());
        Tensor result;
        if (trainedEncoder is not null) result = trainedEncoder.forward(_inputIds.index_select(0, rows)).LastHiddenState;
        else if (_cached is not null) result = _cached.index_select(0, rows);
        else throw new InvalidOperationException("embeddings are not cached; call Cache or pass the trained text encoder");
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        _inputIds.Dispose();
        _cached?.Dispose();
    }
}
