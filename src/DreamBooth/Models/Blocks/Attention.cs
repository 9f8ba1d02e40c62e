using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>
/// diffusers' <c>Attention</c> (multi-head self- or cross-attention) with its default processor semantics:
/// <c>to_q</c> on the hidden states, <c>to_k</c>/<c>to_v</c> on the context (the encoder hidden states, or the hidden
/// states themselves), softmax(QKᵀ/√head_dim)V per head through <c>scaled_dot_product_attention</c>, then
/// <c>to_out</c> = [Linear, Dropout]. The VAE mid-block variant takes a [B, C, H, W] input, normalizes it with its own
/// <c>group_norm</c> and adds the input back (<c>residual_connection</c>).
/// The projections are typed <see cref="nn.Module{Tensor, Tensor}"/> so <see cref="ReplaceProjection"/> can swap in
/// an adapter (LoRA) under the same state-dict name.
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNorm? group_norm;
    private nn.Module<Tensor, Tensor> to_q;
    private nn.Module<Tensor, Tensor> to_k;
    private nn.Module<Tensor, Tensor> to_v;
    private ModuleList<nn.Module<Tensor, Tensor>> to_out;

    private readonly bool _residualConnection;
    private readonly double _rescaleOutputFactor;
    private readonly bool _upcast;

    /// <summary>Number of heads.</summary>
    public int Heads { get; }

    /// <summary>Channels per head; the attention scale is HeadDim^-0.5.</summary>
    public int HeadDim { get; }

    /// <summary>The query projection (<c>to_q</c>).</summary>
    public nn.Module<Tensor, Tensor> ToQ => to_q;

    /// <summary>The key projection (<c>to_k</c>).</summary>
    public nn.Module<Tensor, Tensor> ToK => to_k;

    /// <summary>The value projection (<c>to_v</c>).</summary>
    public nn.Module<Tensor, Tensor> ToV => to_v;

    /// <summary>The output projection (<c>to_out.0</c>).</summary>
    public nn.Module<Tensor, Tensor> ToOut => to_out[0];

    /// <param name="queryDim">Channels of the hidden states.</param>
    /// <param name="crossAttentionDim">Channels of the context for cross-attention; null for self-attention.</param>
    /// <param name="heads">Number of heads.</param>
    /// <param name="dimHead">Channels per head.</param>
    /// <param name="dropout">Dropout after the output projection (<c>to_out.1</c>).</param>
    /// <param name="bias">Whether to_q/to_k/to_v have biases (false in the UNet, true in the VAE).</param>
    /// <param name="outBias">Whether to_out.0 has a bias.</param>
    /// <param name="normNumGroups">Adds <c>group_norm</c> over the input channels with this many groups (VAE).</param>
    /// <param name="normEps">Epsilon of <c>group_norm</c>.</param>
    /// <param name="residualConnection">Adds the block input to the output (VAE).</param>
    /// <param name="rescaleOutputFactor">The output is divided by this.</param>
    /// <param name="upcast">diffusers' upcast_attention/upcast_softmax: with half-precision inputs the attention itself
    /// runs in float32 (a no-op in float32).</param>
    public Attention(long queryDim, long? crossAttentionDim = null, int heads = 8, int dimHead = 64, double dropout = 0.0,
        bool bias = false, bool outBias = true, int? normNumGroups = null, double normEps = 1e-5,
        bool residualConnection = false, double rescaleOutputFactor = 1.0, bool upcast = false) : base(nameof(Attention))
    {
        long inner = (long)heads * dimHead;
        long contextDim = crossAttentionDim ?? queryDim;
        group_norm = normNumGroups is int g ? Norms.GroupNorm(g, queryDim, normEps) : null;
        to_q = nn.Linear(queryDim, inner, hasBias: bias);
        to_k = nn.Linear(contextDim, inner, hasBias: bias);
        to_v = nn.Linear(contextDim, inner, hasBias: bias);
        to_out = nn.ModuleList<nn.Module<Tensor, Tensor>>(nn.Linear(inner, queryDim, hasBias: outBias), nn.Dropout(dropout));
        Heads = heads;
        HeadDim = dimHead;
        _residualConnection = residualConnection;
        _rescaleOutputFactor = rescaleOutputFactor;
        _upcast = upcast;
        RegisterComponents();
    }

    /// <summary>
    /// Attends from <paramref name="hidden"/> ([B, L, C], or [B, C, H, W] for the VAE variant) to
    /// <paramref name="context"/> ([B, S, cross_attention_dim]; null means self-attention). Returns the input's shape.
    /// </summary>
    public override Tensor forward(Tensor hidden, Tensor? context)
    {
        using var scope = NewDisposeScope();
        bool spatial = hidden.dim() == 4;
        var x = hidden;
        if (group_norm is not null)
            x = spatial ? group_norm.call(x) : group_norm.call(x.transpose(1, 2)).transpose(1, 2);
        if (spatial) x = x.flatten(2).transpose(1, 2); // [B, C, H, W] → [B, HW, C]
        context ??= x;

        var q = SplitHeads(to_q.call(x));
        var k = SplitHeads(to_k.call(context));
        var v = SplitHeads(to_v.call(context));
        Tensor attended;
        if (_upcast && q.dtype is ScalarType.Float16 or ScalarType.BFloat16)
            attended = nn.functional.scaled_dot_product_attention(q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32)).to(q.dtype);
        else
            attended = nn.functional.scaled_dot_product_attention(q, k, v); // scale 1/sqrt(head_dim), as diffusers
        var output = attended.transpose(1, 2).reshape(attended.shape[0], attended.shape[2], (long)Heads * HeadDim);
        output = to_out[1].call(to_out[0].call(output));

        if (spatial) output = output.transpose(1, 2).reshape(hidden.shape);
        if (_residualConnection) output = output + hidden;
        if (_rescaleOutputFactor != 1.0) output = output / _rescaleOutputFactor;
        return output.MoveToOuterDisposeScope();
    }

    // [B, L, heads·d] → [B, heads, L, d] (a view; SDPA takes the strides as they are).
    private Tensor SplitHeads(Tensor t) => t.view(t.shape[0], t.shape[1], Heads, HeadDim).transpose(1, 2);

    /// <summary>
    /// Replaces a projection (<c>to_q</c>, <c>to_k</c>, <c>to_v</c> or <c>to_out.0</c>) with <paramref name="module"/>,
    /// which is registered under the same name, so its parameters appear as e.g. <c>to_q.*</c> in the state dict.
    /// Used by LoRA to wrap the original layer.
    /// </summary>
    public void ReplaceProjection(string name, nn.Module<Tensor, Tensor> module)
    {
        ArgumentNullException.ThrowIfNull(module);
        switch (name)
        {
            case "to_q": Reregister(nameof(to_q), to_q = module); break;
            case "to_k": Reregister(nameof(to_k), to_k = module); break;
            case "to_v": Reregister(nameof(to_v), to_v = module); break;
            case "to_out.0":
                // ModuleList's indexer does not update its registration, so build a new list.
                Reregister(nameof(to_out), to_out = nn.ModuleList(module, to_out[1]));
                break;
            default:
                throw new ArgumentException($"unknown attention projection '{name}' (expected to_q, to_k, to_v or to_out.0)", nameof(name));
        }
    }

    // TorchSharp's register_module refuses to overwrite a name, so drop the old entry first.
    private void Reregister(string name, nn.Module module)
    {
        _internal_submodules.Remove(name);
        register_module(name, module);
    }
}
