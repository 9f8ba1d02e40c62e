using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Blocks;

/// <summary>
/// diffusers' <c>ResnetBlock2D</c> (time_embedding_norm "default"): GroupNorm → act → conv1 → (+ time_emb_proj(act(temb))
/// per channel) → GroupNorm → act → dropout → conv2, plus a 1×1 <c>conv_shortcut</c> when the channel count changes,
/// divided by <c>output_scale_factor</c>.
/// </summary>
public sealed class ResnetBlock2D : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNorm norm1;
    private readonly Conv2d conv1;
    private readonly Linear? time_emb_proj;
    private readonly GroupNorm norm2;
    private readonly Dropout dropout;
    private readonly Conv2d conv2;
    private readonly Conv2d? conv_shortcut;

    private readonly Func<Tensor, Tensor> _act;
    private readonly double _outputScaleFactor;

    /// <param name="inChannels">Input channels.</param>
    /// <param name="outChannels">Output channels; a 1×1 shortcut conv is added when they differ from the input's.</param>
    /// <param name="tembChannels">Width of the time embedding, or null for no <c>time_emb_proj</c> (VAE).</param>
    /// <param name="groups">GroupNorm groups for both norms.</param>
    /// <param name="eps">GroupNorm epsilon (UNet: config norm_eps, 1e-5; VAE: 1e-6).</param>
    /// <param name="actFn">Activation name (<see cref="Activations"/>).</param>
    /// <param name="dropout">Dropout probability before conv2.</param>
    /// <param name="outputScaleFactor">The sum with the shortcut is divided by this.</param>
    public ResnetBlock2D(long inChannels, long outChannels, long? tembChannels, int groups, double eps,
        string actFn = "silu", double dropout = 0.0, double outputScaleFactor = 1.0) : base(nameof(ResnetBlock2D))
    {
        norm1 = Norms.GroupNorm(groups, inChannels, eps);
        conv1 = nn.Conv2d(inChannels, outChannels, 3, 1, 1);
        time_emb_proj = tembChannels is long t ? nn.Linear(t, outChannels) : null;
        norm2 = Norms.GroupNorm(groups, outChannels, eps);
        this.dropout = nn.Dropout(dropout);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, 1, 1);
        conv_shortcut = inChannels != outChannels ? nn.Conv2d(inChannels, outChannels, 1, 1, 0) : null;
        _act = Activations.Get(actFn);
        _outputScaleFactor = outputScaleFactor;
        RegisterComponents();
    }

    /// <summary>Applies the block; <paramref name="temb"/> is the UNet time embedding [B, tembChannels] (null in the VAE).</summary>
    public override Tensor forward(Tensor input, Tensor? temb)
    {
        using var scope = NewDisposeScope();
        var h = conv1.call(_act(norm1.call(input)));
        if (time_emb_proj is not null && temb is not null)
            h = h + time_emb_proj.call(_act(temb)).unsqueeze(-1).unsqueeze(-1);
        h = conv2.call(dropout.call(_act(norm2.call(h))));
        var shortcut = conv_shortcut is null ? input : conv_shortcut.call(input);
        var output = shortcut + h;
        if (_outputScaleFactor != 1.0) output = output / _outputScaleFactor;
        return output.MoveToOuterDisposeScope();
    }
}
