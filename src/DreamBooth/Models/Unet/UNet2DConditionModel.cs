using DreamBooth.IO;
using DreamBooth.Models.Blocks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DreamBooth.Models.Unet;

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c> for Stable Diffusion 1.x, 2.x and SDXL: the noise-prediction network
/// ε_θ(z_t, t, c). Field names equal diffusers' attributes, so <c>state_dict()</c> keys equal the published checkpoints.
/// <code>
/// t → time_proj (sinusoid) → time_embedding (MLP) [+ add_embedding(text_embeds, time_proj(time_ids)) for SDXL] = emb
/// z → conv_in → down_blocks (push skips) → mid_block → up_blocks (pop skips) → conv_norm_out → act → conv_out → ε
/// </code>
/// </summary>
public sealed class UNet2DConditionModel : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly Timesteps time_proj;
    private readonly TimestepEmbedding time_embedding;
    private readonly Timesteps? add_time_proj;
    private readonly TimestepEmbedding? add_embedding;
    private readonly ModuleList<UNetDownBlock> down_blocks;
    private readonly UNetMidBlock2DCrossAttn mid_block;
    private readonly ModuleList<UNetUpBlock> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    private readonly Func<Tensor, Tensor> _act;

    /// <summary>The configuration the model was built from.</summary>
    public UNet2DConditionConfig Config { get; }

    /// <summary>Builds a randomly initialized model; <see cref="FromPretrained(string, ScalarType?)"/> also loads weights.</summary>
    public UNet2DConditionModel(UNet2DConditionConfig config) : base(nameof(UNet2DConditionModel))
    {
        config.Validate(nameof(UNet2DConditionConfig));
        Config = config;
        int n = config.BlockCount;
        int[] channels = config.BlockOutChannels, heads = config.AttentionHeads, crossDims = config.CrossAttentionDims;
        int[] layers = config.LayersPerBlockList, transformerLayers = config.TransformerLayers;
        int groups = config.NormNumGroups!.Value;
        long temb = config.TimeEmbedDim;

        conv_in = nn.Conv2d(config.InChannels, channels[0], config.ConvInKernel, 1, (config.ConvInKernel - 1) / 2);
        time_proj = new Timesteps(channels[0], config.FlipSinToCos, config.FreqShift);
        time_embedding = new TimestepEmbedding(channels[0], temb, config.ActFn);
        if (config.AdditionEmbedType == "text_time")
        {
            add_time_proj = new Timesteps(config.AdditionTimeEmbedDim!.Value, config.FlipSinToCos, config.FreqShift);
            add_embedding = new TimestepEmbedding(config.ProjectionClassEmbeddingsInputDim!.Value, temb);
        }

        var resnet = new ResnetSettings(groups, config.NormEps, config.ActFn, config.Dropout, config.ResnetOutScaleFactor);
        TransformerSettings Transformer(int blockHeads, int blockLayers, int crossDim) =>
            new(blockHeads, blockLayers, crossDim, groups, config.UseLinearProjection, config.UpcastAttention);

        var down = new List<UNetDownBlock>();
        for (int i = 0; i < n; i++)
        {
            long input = channels[Math.Max(i - 1, 0)], output = channels[i];
            bool addDownsample = i < n - 1;
            down.Add(config.DownBlockTypes[i] switch
            {
                "CrossAttnDownBlock2D" => new CrossAttnDownBlock2D(input, output, temb, layers[i], addDownsample, resnet,
                    Transformer(heads[i], transformerLayers[i], crossDims[i]), config.DownsamplePadding),
                _ => new DownBlock2D(input, output, temb, layers[i], addDownsample, resnet, config.DownsamplePadding),
            });
        }
        down_blocks = nn.ModuleList(down.ToArray());

        mid_block = new UNetMidBlock2DCrossAttn(channels[^1], temb, resnet with { OutputScaleFactor = config.MidBlockScaleFactor },
            Transformer(heads[^1], transformerLayers[^1], crossDims[^1]));

        int[] rChannels = channels.Reverse().ToArray(), rHeads = heads.Reverse().ToArray(), rCross = crossDims.Reverse().ToArray();
        int[] rLayers = layers.Reverse().ToArray(), rTransformerLayers = config.UpTransformerLayers;
        var up = new List<UNetUpBlock>();
        for (int i = 0; i < n; i++)
        {
            long prevOutput = rChannels[Math.Max(i - 1, 0)], output = rChannels[i], input = rChannels[Math.Min(i + 1, n - 1)];
            bool addUpsample = i < n - 1;
            up.Add(config.UpBlockTypes[i] switch
            {
                "CrossAttnUpBlock2D" => new CrossAttnUpBlock2D(input, prevOutput, output, temb, rLayers[i] + 1, addUpsample, resnet,
                    Transformer(rHeads[i], rTransformerLayers[i], rCross[i])),
                _ => new UpBlock2D(input, prevOutput, output, temb, rLayers[i] + 1, addUpsample, resnet),
            });
        }
        up_blocks = nn.ModuleList(up.ToArray());

        conv_norm_out = Norms.GroupNorm(groups, channels[0], config.NormEps);
        conv_out = nn.Conv2d(channels[0], config.OutChannels, config.ConvOutKernel, 1, (config.ConvOutKernel - 1) / 2);
        _act = Activations.Get(config.ActFn);
        RegisterComponents();
    }

    /// <summary>
    /// Loads a diffusers <c>unet/</c> folder (config.json + safetensors weights, strict), converted to
    /// <paramref name="dtype"/> (default float32), in eval mode.
    /// </summary>
    public static UNet2DConditionModel FromPretrained(string componentDir, ScalarType? dtype = null) =>
        FromPretrained(ModelComponent.Open(componentDir), dtype);

    /// <summary>Loads a resolved component (weights variant or shards as the folder provides them).</summary>
    public static UNet2DConditionModel FromPretrained(ModelComponent component, ScalarType? dtype = null) =>
        Pretrained.Load<UNet2DConditionConfig, UNet2DConditionModel>(component, dtype, c => new UNet2DConditionModel(c));

    /// <summary>Predicts the noise (or v) for <paramref name="sample"/> at <paramref name="timestep"/> given text embeddings.</summary>
    public override Tensor forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates) =>
        forward(sample, timestep, encoderHiddenStates, null, null, null);

    /// <summary>
    /// Runs the UNet.
    /// </summary>
    /// <param name="sample">Noisy latents [B, in_channels, H, W].</param>
    /// <param name="timestep">Timesteps: int64 or float, shape [B], or one value (0-d or [1]) used for the whole batch.
    /// Fractional values are embedded as they are.</param>
    /// <param name="encoderHiddenStates">Text embeddings [B, S, cross_attention_dim].</param>
    /// <param name="textEmbeds">SDXL (<c>addition_embed_type</c> "text_time"): pooled text embeddings [B, D].</param>
    /// <param name="timeIds">SDXL: size and crop conditioning [B, 6] (original size, crop top-left, target size).</param>
    /// <param name="taps">When given, receives intermediate tensors under diffusers' module names: <c>time_proj</c>,
    /// <c>time_embedding</c>, <c>add_time_proj</c> ([B·6, addition_time_embed_dim]) and <c>add_embedding</c> (SDXL),
    /// <c>conv_in</c>, <c>down_blocks.{i}</c> and its skips <c>down_blocks.{i}.res_sample{j}</c> in push order,
    /// <c>mid_block</c>, <c>up_blocks.{i}</c>, and <c>conv_norm_out</c> (before the activation). The tensors belong to
    /// the caller's dispose scope; nothing is copied.</param>
    /// <returns>The prediction [B, out_channels, H, W].</returns>
    public Tensor forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, Tensor? textEmbeds = null, Tensor? timeIds = null,
        IDictionary<string, Tensor>? taps = null)
    {
        void Tap(string name, Tensor t)
        {
            if (taps is not null) taps[name] = t;
        }

        CheckInputs(sample, encoderHiddenStates);
        long batch = sample.shape[0];
        // The total downsampling factor; other sizes make the upsamplers target the skip sizes explicitly.
        long upFactor = 1L << (up_blocks.Count - 1);
        bool forwardUpsampleSize = sample.shape[2] % upFactor != 0 || sample.shape[3] % upFactor != 0;
        if (Config.CenterInputSample) sample = 2 * sample - 1.0;

        // 1. time
        var tProj = time_proj.call(BroadcastTimesteps(timestep, batch, sample.device));
        Tap("time_proj", tProj);
        var emb = time_embedding.call(tProj.to(sample.dtype));
        Tap("time_embedding", emb);
        if (add_embedding is not null) emb = emb + AddedEmbedding(batch, textEmbeds, timeIds, emb.dtype, Tap);

        // 2. pre-process
        var hidden = conv_in.call(sample);
        Tap("conv_in", hidden);

        // 3. down
        var skips = new List<Tensor> { hidden };
        for (int i = 0; i < down_blocks.Count; i++)
        {
            (hidden, var blockSkips) = down_blocks[i].forward(hidden, emb, encoderHiddenStates);
            skips.AddRange(blockSkips);
            if (taps is not null)
            {
                Tap($"down_blocks.{i}", hidden);
                for (int j = 0; j < blockSkips.Count; j++) Tap($"down_blocks.{i}.res_sample{j}", blockSkips[j]);
            }
        }

        // 4. mid
        hidden = mid_block.call(hidden, emb, encoderHiddenStates);
        Tap("mid_block", hidden);

        // 5. up
        for (int i = 0; i < up_blocks.Count; i++)
        {
            var block = up_blocks[i];
            int k = block.SkipCount;
            var blockSkips = skips.GetRange(skips.Count - k, k);
            skips.RemoveRange(skips.Count - k, k);
            long[]? upsampleSize = i < up_blocks.Count - 1 && forwardUpsampleSize ? skips[^1].shape[2..] : null;
            hidden = block.forward(hidden, blockSkips, emb, encoderHiddenStates, upsampleSize);
            Tap($"up_blocks.{i}", hidden);
        }

        // 6. post-process
        hidden = conv_norm_out.call(hidden);
        Tap("conv_norm_out", hidden);
        return conv_out.call(_act(hidden));
    }

    // SDXL "text_time": add_embedding(cat[text_embeds, flatten(time_proj(each time id))]).
    private Tensor AddedEmbedding(long batch, Tensor? textEmbeds, Tensor? timeIds, ScalarType dtype, Action<string, Tensor> tap)
    {
        if (textEmbeds is null || timeIds is null)
            throw new ArgumentException("this UNet has addition_embed_type 'text_time' and needs textEmbeds and timeIds (SDXL added conditions)");
        long expected = Config.ProjectionClassEmbeddingsInputDim!.Value;
        long got = textEmbeds.dim() == 2 && timeIds.dim() == 2 && textEmbeds.shape[0] == batch && timeIds.shape[0] == batch
            ? textEmbeds.shape[1] + timeIds.shape[1] * Config.AdditionTimeEmbedDim!.Value
            : -1;
        if (got != expected)
            throw new ArgumentException($"textEmbeds [{string.Join(", ", textEmbeds.shape)}] and timeIds [{string.Join(", ", timeIds.shape)}] " +
                                        $"do not give [{batch}, {expected}] (projection_class_embeddings_input_dim)");
        var timeEmbeds = add_time_proj!.call(timeIds.flatten());
        tap("add_time_proj", timeEmbeds);
        var addEmbeds = cat([textEmbeds, timeEmbeds.reshape(batch, -1)], -1).to(dtype);
        var aug = add_embedding!.call(addEmbeds);
        tap("add_embedding", aug);
        return aug;
    }

    private void CheckInputs(Tensor sample, Tensor encoderHiddenStates)
    {
        if (sample.dim() != 4 || sample.shape[1] != Config.InChannels)
            throw new ArgumentException($"sample must be [B, {Config.InChannels}, H, W], got [{string.Join(", ", sample.shape)}]", nameof(sample));
        var crossDims = Config.CrossAttentionDims;
        if (encoderHiddenStates.dim() != 3 || encoderHiddenStates.shape[0] != sample.shape[0] || crossDims.Any(d => d != encoderHiddenStates.shape[2]))
            throw new ArgumentException($"encoderHiddenStates must be [{sample.shape[0]}, S, {crossDims[^1]}] (cross_attention_dim), " +
                                        $"got [{string.Join(", ", encoderHiddenStates.shape)}]", nameof(encoderHiddenStates));
    }

    // diffusers: a 0-d or single timestep is broadcast to the batch; otherwise one per sample.
    private static Tensor BroadcastTimesteps(Tensor timestep, long batch, Device device)
    {
        Tensor t;
        if (timestep.numel() == 1) t = timestep.reshape(1).expand(batch);
        else if (timestep.dim() == 1 && timestep.shape[0] == batch) t = timestep;
        else throw new ArgumentException($"timestep must be one value or [{batch}], got [{string.Join(", ", timestep.shape)}]", nameof(timestep));
        return t.device == device ? t : t.to(device);
    }
}
