using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Clip;

// The CLIP text tower, after transformers' modeling_clip.py: token + position embeddings, pre-LayerNorm transformer
// blocks under an always-on causal mask, a final LayerNorm, and pooling at the end-of-text token. Field names are the
// transformers attribute names, so state_dict() keys equal the checkpoint keys (text_model.encoder.layers.0.self_attn.q_proj.weight).

/// <summary>Token embedding plus learned absolute position embedding.</summary>
public sealed class CLIPTextEmbeddings : nn.Module<Tensor, Tensor>
{
    public readonly Embedding token_embedding;
    public readonly Embedding position_embedding;
    // transformers' position_ids buffer (arange(max_position_embeddings)) is not persistent, so it is not registered.

    public CLIPTextEmbeddings(CLIPTextConfig config) : base(nameof(CLIPTextEmbeddings))
    {
        token_embedding = nn.Embedding(config.VocabSize, config.HiddenSize);
        position_embedding = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        RegisterComponents();
    }

    /// <summary>input_ids [B, L] → [B, L, hidden].</summary>
    public override Tensor forward(Tensor inputIds)
    {
        // Positions are 0..L-1, so looking them up is the first L rows of the table: a view instead of a gather.
        var positions = position_embedding.weight!.narrow(0, 0, inputIds.shape[1]);
        return token_embedding.call(inputIds) + positions;
    }
}

/// <summary>
/// Multi-head self-attention. The projections are typed <c>nn.Module&lt;Tensor, Tensor&gt;</c> so that LoRA can wrap them.
/// </summary>
public sealed class CLIPAttention : nn.Module<Tensor, Tensor?, Tensor>
{
    public nn.Module<Tensor, Tensor> k_proj;
    public nn.Module<Tensor, Tensor> v_proj;
    public nn.Module<Tensor, Tensor> q_proj;
    public nn.Module<Tensor, Tensor> out_proj;
    private readonly long _heads;
    private readonly long _headDim;

    public CLIPAttention(CLIPTextConfig config) : base(nameof(CLIPAttention))
    {
        _heads = config.NumAttentionHeads;
        _headDim = config.HeadDim;
        k_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        v_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        q_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        out_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    /// <summary>
    /// hidden [B, L, hidden] → [B, L, hidden]. With <paramref name="attentionMask"/> null the causal mask is applied by
    /// SDPA's fused causal path; otherwise <paramref name="attentionMask"/> is the additive [B, 1, L, L] mask that already
    /// holds the causal part (see <see cref="CLIPTextTransformer"/>).
    /// </summary>
    public override Tensor forward(Tensor hidden, Tensor? attentionMask)
    {
        long batch = hidden.shape[0], length = hidden.shape[1];
        var q = SplitHeads(q_proj.call(hidden), batch, length);
        var k = SplitHeads(k_proj.call(hidden), batch, length);
        var v = SplitHeads(v_proj.call(hidden), batch, length);
        // Default scale 1/sqrt(head_dim), as CLIP's. TorchSharp spells the flag is_casual.
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, attentionMask, 0.0, attentionMask is null);
        return out_proj.call(attended.transpose(1, 2).reshape(batch, length, _heads * _headDim));
    }

    // [B, L, hidden] → [B, heads, L, head_dim] as a strided view (SDPA takes it without a copy).
    private Tensor SplitHeads(Tensor x, long batch, long length) => x.view(batch, length, _heads, _headDim).transpose(1, 2);

    /// <summary>
    /// Replaces a projection (<c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c> or <c>out_proj</c>) with <paramref name="module"/>,
    /// registered under the same name so that its parameters appear as e.g. <c>q_proj.*</c> in the state dict (LoRA wraps
    /// the original layer this way). The counterpart of <see cref="Blocks.Attention.ReplaceProjection"/>.
    /// </summary>
    public void ReplaceProjection(string name, nn.Module<Tensor, Tensor> module)
    {
        ArgumentNullException.ThrowIfNull(module);
        switch (name)
        {
            case nameof(q_proj): q_proj = module; break;
            case nameof(k_proj): k_proj = module; break;
            case nameof(v_proj): v_proj = module; break;
            case nameof(out_proj): out_proj = module; break;
            default: throw new ArgumentException($"unknown CLIP attention projection '{name}' (expected q_proj, k_proj, v_proj or out_proj)", nameof(name));
        }
        // TorchSharp's register_module refuses to overwrite a name, so drop the old entry first.
        _internal_submodules.Remove(name);
        register_module(name, module);
    }

    /// <summary>The projection named <paramref name="name"/> (<c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c>, <c>out_proj</c>).</summary>
    public nn.Module<Tensor, Tensor> Projection(string name) => name switch
    {
        nameof(q_proj) => q_proj,
        nameof(k_proj) => k_proj,
        nameof(v_proj) => v_proj,
        nameof(out_proj) => out_proj,
        _ => throw new ArgumentException($"unknown CLIP attention projection '{name}' (expected q_proj, k_proj, v_proj or out_proj)", nameof(name)),
    };
}

/// <summary>The feed-forward block: fc1 → activation (config <c>hidden_act</c>) → fc2.</summary>
public sealed class CLIPMLP : nn.Module<Tensor, Tensor>
{
    public readonly Linear fc1;
    public readonly Linear fc2;
    private readonly Func<Tensor, Tensor> _activation;

    public CLIPMLP(CLIPTextConfig config) : base(nameof(CLIPMLP))
    {
        _activation = Activation(config.HiddenAct);
        fc1 = nn.Linear(config.HiddenSize, config.IntermediateSize);
        fc2 = nn.Linear(config.IntermediateSize, config.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden) => fc2.call(_activation(fc1.call(hidden)));

    /// <summary>transformers' ACT2FN for the names in <see cref="CLIPTextConfig.SupportedActivations"/>.</summary>
    internal static Func<Tensor, Tensor> Activation(string name) => name switch
    {
        "quick_gelu" => x => x * sigmoid(1.702 * x),
        "gelu" => x => nn.functional.gelu(x),
        // gelu_new / gelu_fast are transformers' own spellings of the tanh approximation; equal up to rounding.
        "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => x => nn.functional.gelu(x, GELU.Approximate.tanh),
        "relu" => x => nn.functional.relu(x),
        "silu" or "swish" => x => nn.functional.silu(x),
        _ => throw new DreamBoothException($"CLIP config: unsupported hidden_act '{name}'"),
    };
}

/// <summary>One pre-LayerNorm transformer block: x + attn(ln1(x)), then x + mlp(ln2(x)).</summary>
public sealed class CLIPEncoderLayer : nn.Module<Tensor, Tensor?, Tensor>
{
    public readonly CLIPAttention self_attn;
    public readonly LayerNorm layer_norm1;
    public readonly CLIPMLP mlp;
    public readonly LayerNorm layer_norm2;

    public CLIPEncoderLayer(CLIPTextConfig config) : base(nameof(CLIPEncoderLayer))
    {
        self_attn = new CLIPAttention(config);
        layer_norm1 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        mlp = new CLIPMLP(config);
        layer_norm2 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>hidden [B, L, hidden] → [B, L, hidden]; <paramref name="attentionMask"/> as in <see cref="CLIPAttention.forward"/>.</summary>
    public override Tensor forward(Tensor hidden, Tensor? attentionMask)
    {
        var x = hidden + self_attn.call(layer_norm1.call(hidden), attentionMask);
        return x + mlp.call(layer_norm2.call(x));
    }
}

/// <summary>The stack of <see cref="CLIPEncoderLayer"/>s.</summary>
public sealed class CLIPEncoder : nn.Module<Tensor, Tensor?, Tensor>, ISupportsGradientCheckpointing
{
    public readonly ModuleList<CLIPEncoderLayer> layers;

    public CLIPEncoder(CLIPTextConfig config) : base(nameof(CLIPEncoder))
    {
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new CLIPEncoderLayer(config)).ToArray());
        RegisterComponents();
    }

    /// <inheritdoc/>
    public bool GradientCheckpointing { get; set; }

    /// <summary>Runs every layer.</summary>
    public override Tensor forward(Tensor inputsEmbeds, Tensor? attentionMask) => forward(inputsEmbeds, attentionMask, layers.Count, null);

    /// <summary>
    /// Runs the first <paramref name="numLayers"/> layers. When <paramref name="hiddenStates"/> is given, the input and
    /// each layer's output are appended to it (transformers' output_hidden_states order).
    /// </summary>
    public Tensor forward(Tensor inputsEmbeds, Tensor? attentionMask, int numLayers, List<Tensor>? hiddenStates)
    {
        var hidden = inputsEmbeds;
        hiddenStates?.Add(hidden);
        for (int i = 0; i < numLayers; i++)
        {
            hidden = GradientCheckpoint.Call(layers[i], hidden, attentionMask, GradientCheckpointing);
            hiddenStates?.Add(hidden);
        }
        return hidden;
    }
}

/// <summary>
/// transformers' <c>CLIPTextTransformer</c> (the <c>text_model</c> of <see cref="CLIPTextModel"/> and
/// <see cref="CLIPTextModelWithProjection"/>). Holds the forward pass, pooling and clip skip shared by both.
/// </summary>
public sealed class CLIPTextTransformer : nn.Module<Tensor, CLIPTextOutput>
{
    public readonly CLIPTextEmbeddings embeddings;
    public readonly CLIPEncoder encoder;
    public readonly LayerNorm final_layer_norm;

    /// <summary>The config this model was built from.</summary>
    public CLIPTextConfig Config { get; }

    public CLIPTextTransformer(CLIPTextConfig config) : base(nameof(CLIPTextTransformer))
    {
        config.Validate(nameof(CLIPTextConfig));
        Config = config;
        embeddings = new CLIPTextEmbeddings(config);
        encoder = new CLIPEncoder(config);
        final_layer_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>Encodes <paramref name="inputIds"/> [B, L] with the causal mask only (what SD pipelines do).</summary>
    public override CLIPTextOutput forward(Tensor inputIds) => forward(inputIds, null);

    /// <summary>
    /// Encodes <paramref name="inputIds"/> [B, L] (int64 or int32, L ≤ max_position_embeddings).
    /// </summary>
    /// <param name="inputIds">Token ids [B, L].</param>
    /// <param name="attentionMask">Optional padding mask [B, L] (1 = token, 0 = padding), applied in addition to the causal mask.</param>
    /// <param name="outputHiddenStates">Also return every layer's hidden state (<see cref="CLIPTextOutput.HiddenStates"/>).</param>
    public CLIPTextOutput forward(Tensor inputIds, Tensor? attentionMask, bool outputHiddenStates = false)
    {
        using var scope = NewDisposeScope();
        var states = outputHiddenStates ? new List<Tensor>(Config.NumHiddenLayers + 1) : null;
        var hidden = Encode(inputIds, attentionMask, Config.NumHiddenLayers, states);
        var lastHiddenState = final_layer_norm.call(hidden);
        var pooled = Pool(lastHiddenState, inputIds);
        return new CLIPTextOutput(lastHiddenState, pooled, states).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// diffusers' <c>clip_skip</c>: hidden_states[-1 - <paramref name="clipSkip"/>] with final_layer_norm applied, [B, L, hidden].
    /// 0 gives last_hidden_state; 1 the penultimate layer ("CLIP skip 2" in A1111 terms). Layers after the chosen one are not run.
    /// </summary>
    public Tensor HiddenStateWithClipSkip(Tensor inputIds, int clipSkip, Tensor? attentionMask = null)
    {
        if (clipSkip < 0 || clipSkip > Config.NumHiddenLayers)
            throw new DreamBoothException($"clip skip {clipSkip} is out of range: this text encoder has {Config.NumHiddenLayers} layers, so it must be 0..{Config.NumHiddenLayers}");
        using var scope = NewDisposeScope();
        var hidden = Encode(inputIds, attentionMask, Config.NumHiddenLayers - clipSkip, null);
        return final_layer_norm.call(hidden).MoveToOuterDisposeScope();
    }

    private Tensor Encode(Tensor inputIds, Tensor? attentionMask, int numLayers, List<Tensor>? hiddenStates)
    {
        CheckInputs(inputIds, attentionMask);
        var hidden = embeddings.call(inputIds);
        var mask = attentionMask is null ? null : AdditiveMask(attentionMask, hidden.dtype);
        return encoder.forward(hidden, mask, numLayers, hiddenStates);
    }

    /// <summary>
    /// transformers' 4-D additive mask: the causal mask (dtype-min above the diagonal) plus the padding mask (dtype-min at
    /// padded keys), [B, 1, L, L]. Where both apply the sum overflows to −inf, as it does upstream.
    /// </summary>
    private static Tensor AdditiveMask(Tensor attentionMask, ScalarType dtype)
    {
        long batch = attentionMask.shape[0], length = attentionMask.shape[1];
        double min = finfo(dtype).min;
        var causal = full(length, length, min, dtype, attentionMask.device).triu_(1);
        var padding = zeros(batch, 1, 1, length, dtype, attentionMask.device).masked_fill_(attentionMask.eq(0).view(batch, 1, 1, length), min);
        return causal + padding;
    }

    /// <summary>last_hidden_state at each row's end-of-text position → [B, hidden].</summary>
    private Tensor Pool(Tensor lastHiddenState, Tensor inputIds)
    {
        // Legacy configs (eos_token_id 2, as in the real SD1.x/SD2.x files) pool at argmax(input_ids): eos is CLIP's largest id.
        // Otherwise the first position holding eos_token_id. argmax returns the first maximum in both cases.
        var positions = Config.UsesLegacyPooling
            ? inputIds.argmax(-1)
            : inputIds.eq(Config.EosTokenId).to(ScalarType.Int32).argmax(-1);
        var rows = arange(inputIds.shape[0], ScalarType.Int64, lastHiddenState.device);
        return lastHiddenState.index(rows, positions.to(lastHiddenState.device));
    }

    private void CheckInputs(Tensor inputIds, Tensor? attentionMask)
    {
        if (inputIds.ndim != 2 || inputIds.shape[0] == 0 || inputIds.shape[1] == 0)
            throw new ArgumentException($"input_ids must be a non-empty [batch, length] tensor, got shape [{string.Join(", ", inputIds.shape)}]", nameof(inputIds));
        if (inputIds.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new ArgumentException($"input_ids must be int64 or int32, got {inputIds.dtype}", nameof(inputIds));
        if (attentionMask is not null && !attentionMask.shape.SequenceEqual(inputIds.shape))
            throw new ArgumentException($"attention_mask shape [{string.Join(", ", attentionMask.shape)}] differs from input_ids shape [{string.Join(", ", inputIds.shape)}]", nameof(attentionMask));
        long length = inputIds.shape[1];
        if (length > Config.MaxPositionEmbeddings)
            throw new DreamBoothException($"input_ids has {length} tokens, more than the text encoder's max_position_embeddings {Config.MaxPositionEmbeddings}");
        using var scope = NewDisposeScope();
        if (inputIds.lt(0).logical_or(inputIds.ge(Config.VocabSize)).any().item<bool>())
        {
            long bad = inputIds.lt(0).any().item<bool>() ? inputIds.min().to(ScalarType.Int64).item<long>() : inputIds.max().to(ScalarType.Int64).item<long>();
            throw new DreamBoothException($"input_ids holds token id {bad}, outside the text encoder's vocab_size {Config.VocabSize} (tokenizer and text encoder do not match?)");
        }
    }
}
