using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Tests.IO;
using DreamBooth.Training.Lora;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Training;

public class LoraTests
{
    private static UNet2DConditionModel Unet() => UNet2DConditionModel.FromPretrained(Golden.PathOf("tiny-sd1", "unet"));
    private static CLIPTextModel TextEncoder() => CLIPTextModel.FromPretrained(Golden.PathOf("tiny-sd1", "text_encoder"));

    private static (Tensor Sample, Tensor T, Tensor Ehs) Inputs(UNet2DConditionModel unet)
    {
        using var g = new Generator(9);
        return (randn([2, 4, 16, 16], generator: g), tensor(new long[] { 3, 600 }), randn([2, 77, unet.Config.CrossAttentionDims[0]], generator: g));
    }

    private static Tensor Run(UNet2DConditionModel unet)
    {
        using var _ = no_grad();
        var (s, t, e) = Inputs(unet);
        return unet.forward(s, t, e);
    }

    // Gives every adapter a non-zero up matrix, as training would.
    private static void Perturb(IEnumerable<LoraLayer> layers, long seed)
    {
        using var g = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var l in layers) l.Layer.Up.copy_(randn(l.Layer.Up.shape, generator: g) * 0.05);
    }

    [Fact]
    public void LoraLinear_adds_the_scaled_low_rank_update_and_freezes_the_base()
    {
        using var g = new Generator(1);
        var baseLayer = nn.Linear(6, 5);
        var x = randn([3, 6], generator: g);
        var expectedBase = baseLayer.forward(x).detach();
        var lora = new LoraLinear(baseLayer, new LoraSettings(2, 6), g);
        lora.forward(x).Should().NotBeNull();
        Golden.AssertClose(lora.forward(x), expectedBase, 0, 0, "B = 0 gives the base layer");
        lora.Weight.requires_grad.Should().BeFalse();
        lora.Down.requires_grad.Should().BeTrue();
        lora.Down.abs().sum().item<float>().Should().BeGreaterThan(0);
        using (no_grad()) lora.Up.copy_(randn([5, 2], generator: g));
        var expected = expectedBase + x.matmul(lora.Down.t()).matmul(lora.Up.t()) * 3.0;
        Golden.AssertClose(lora.forward(x), expected, 1e-5, 0, "alpha/rank = 3");
        lora.Multiplier = 0.5;
        Golden.AssertClose(lora.forward(x), expectedBase + (expected - expectedBase) * 0.5, 1e-5, 0, "multiplier");
        lora.state_dict().Keys.Should().BeEquivalentTo(["weight", "bias", "lora_A.weight", "lora_B.weight"]);
    }

    [Theory]
    [InlineData(LoraInit.Gaussian)]
    [InlineData(LoraInit.KaimingUniform)]
    public void Initializations_have_the_documented_spread(LoraInit init)
    {
        using var g = new Generator(4);
        var lora = new LoraLinear(nn.Linear(400, 8), new LoraSettings(16, 16, init), g);
        double std = lora.Down.std().item<float>();
        double expected = init == LoraInit.Gaussian ? 1.0 / 16 : 1.0 / Math.Sqrt(400) / Math.Sqrt(3);
        std.Should().BeApproximately(expected, expected * 0.05);
        if (init == LoraInit.KaimingUniform) lora.Down.abs().max().item<float>().Should().BeLessThanOrEqualTo((float)(1 / Math.Sqrt(400)));
        lora.Up.abs().max().item<float>().Should().Be(0);
    }

    [Fact]
    public void Adapters_on_the_unet_keep_its_output_and_base_keys()
    {
        using var unet = Unet();
        var before = Run(unet);
        var baseKeys = unet.state_dict().Keys.ToHashSet();
        using var g = new Generator(2);
        var layers = LoraAdapters.AddToUnet(unet, LoraSettings.Create(4), g);
        int attentions = unet.named_modules().Count(m => m.module is DreamBooth.Models.Blocks.Attention);
        layers.Should().HaveCount(attentions * 4);
        layers.Select(l => l.Path).Should().Contain("down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q")
            .And.Contain("mid_block.attentions.0.transformer_blocks.0.attn2.to_out.0");
        Golden.AssertClose(Run(unet), before, 0, 0, "B = 0");
        var keys = unet.state_dict().Keys.ToHashSet();
        keys.Except(baseKeys).Should().OnlyContain(k => k.EndsWith(".lora_A.weight") || k.EndsWith(".lora_B.weight")).And.HaveCount(layers.Count * 2);
        baseKeys.Except(keys).Should().BeEmpty();
        unet.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name)
            .Should().OnlyContain(n => n.Contains(".lora_A.") || n.Contains(".lora_B."));
        LoraAdapters.Find(unet, LoraAdapters.Unet).Select(l => l.Path).Should().BeEquivalentTo(layers.Select(l => l.Path));
        var again = () => LoraAdapters.AddToUnet(unet, LoraSettings.Create(4), g);
        again.Should().Throw<DreamBoothException>().WithMessage("*already has an adapter*");
    }

    [Fact]
    public void Saved_file_uses_diffusers_keys_and_reproduces_the_adapted_model_when_merged()
    {
        using var dir = new TempDir();
        using var unet = Unet();
        using var te = TextEncoder();
        using var g = new Generator(2);
        var settings = LoraSettings.Create(4, alpha: 8); // alpha ≠ rank is folded into the up matrix
        var layers = LoraAdapters.AddToUnet(unet, settings, g).Concat(LoraAdapters.AddToTextEncoder(te, settings, g)).ToList();
        Perturb(layers, 7);
        var ids = randint(0, te.Config.VocabSize, [2, 77], dtype: ScalarType.Int64, generator: g);
        Tensor expectedUnet = Run(unet), expectedText;
        using (no_grad()) expectedText = te.forward(ids).LastHiddenState;

        var file = dir.File(LoraWeights.FileName);
        LoraWeights.Save(file, layers);
        using (var reader = Safetensors.Open(file))
        {
            reader.Metadata.Should().Contain("format", "pt");
            reader.Entries.Keys.Should().Contain("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight")
                .And.Contain("unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0.lora.up.weight")
                .And.Contain("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.down.weight")
                .And.Contain("text_encoder.text_model.encoder.layers.0.self_attn.out_proj.lora_linear_layer.up.weight");
            reader.Entries.Should().HaveCount(layers.Count * 2);
            reader.Entries["unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora.down.weight"].Shape.Should().Equal(4, 64);
        }

        using var fresh = Unet();
        using var freshTe = TextEncoder();
        var result = LoraWeights.Apply(fresh, freshTe, file);
        result.Should().Be(new LoraApplyResult(layers.Count(l => l.Component == "unet"), layers.Count(l => l.Component == "text_encoder"), "diffusers"));
        Golden.AssertClose(Run(fresh), expectedUnet, 1e-5, 0, "merged UNet");
        using (no_grad()) Golden.AssertClose(freshTe.forward(ids).LastHiddenState, expectedText, 1e-5, 0, "merged text encoder");
    }

    [Fact]
    public void Scale_interpolates_and_zero_changes_nothing()
    {
        using var dir = new TempDir();
        using var unet = Unet();
        var baseOut = Run(unet);
        var layers = LoraAdapters.AddToUnet(unet, LoraSettings.Create(2), new Generator(3));
        Perturb(layers, 8);
        var adapted = Run(unet);
        var file = dir.File("l.safetensors");
        LoraWeights.Save(file, layers);

        using var zero = Unet();
        LoraWeights.Apply(zero, null, file, 0.0);
        Golden.AssertClose(Run(zero), baseOut, 0, 0, "scale 0");

        // The update is linear in the weights; the output is not, so compare weights.
        using var half = Unet();
        LoraWeights.Apply(half, null, file, 0.5);
        var path = layers[0].Path;
        var w0 = unet.state_dict()[path + ".weight"];
        var merged = half.state_dict()[path + ".weight"];
        var l = layers[0].Layer;
        Golden.AssertClose(merged, w0 + l.Up.matmul(l.Down) * 0.5, 1e-6, 0, "half");
        (adapted - baseOut).abs().max().item<float>().Should().BeGreaterThan(1e-4f);
    }

    // The same update in the other layouts a LoRA file may use.
    [Theory]
    [InlineData("peft")]
    [InlineData("peft-adapter-name")]
    [InlineData("attn-procs")]
    [InlineData("kohya")]
    public void Other_key_layouts_merge_the_same(string layout)
    {
        using var dir = new TempDir();
        using var unet = Unet();
        using var te = TextEncoder();
        var layers = LoraAdapters.AddToUnet(unet, LoraSettings.Create(2), new Generator(3))
            .Concat(LoraAdapters.AddToTextEncoder(te, LoraSettings.Create(2), new Generator(4))).ToList();
        Perturb(layers, 9);
        var reference = dir.File("ref.safetensors");
        LoraWeights.Save(reference, layers);

        var tensors = new Dictionary<string, Tensor>();
        foreach (var l in layers)
        {
            string unetOld(string p) => p.EndsWith(".to_out.0") ? p[..^".to_out.0".Length] + ".processor.to_out_lora" : p[..p.LastIndexOf('.')] + ".processor" + p[p.LastIndexOf('.')..] + "_lora";
            string teOld(string p) => p[..(p.LastIndexOf('.') + 1)] + p[(p.LastIndexOf('.') + 1)..] switch { "q_proj" => "to_q_lora", "k_proj" => "to_k_lora", "v_proj" => "to_v_lora", _ => "to_out_lora" };
            var (down, up) = layout switch
            {
                "peft" => ($"{l.Component}.{l.Path}.lora_A.weight", $"{l.Component}.{l.Path}.lora_B.weight"),
                "peft-adapter-name" => ($"{l.Component}.{l.Path}.lora_A.default.weight", $"{l.Component}.{l.Path}.lora_B.default.weight"),
                "attn-procs" => l.Component == "unet"
                    ? ($"{unetOld(l.Path)}.down.weight", $"{unetOld(l.Path)}.up.weight")
                    : ($"text_encoder.{teOld(l.Path)}.down.weight", $"text_encoder.{teOld(l.Path)}.up.weight"),
                _ => ($"lora_{(l.Component == "unet" ? "unet" : "te")}_{l.Path.Replace('.', '_')}.lora_down.weight",
                      $"lora_{(l.Component == "unet" ? "unet" : "te")}_{l.Path.Replace('.', '_')}.lora_up.weight"),
            };
            tensors[down] = l.Layer.Down.detach().clone();
            // kohya stores alpha separately: store up / 2 with alpha 4 at rank 2 (scale 2).
            tensors[up] = layout == "kohya" ? l.Layer.Up.detach() / 2 : l.Layer.Up.detach().clone();
            if (layout == "kohya") tensors[$"lora_{(l.Component == "unet" ? "unet" : "te")}_{l.Path.Replace('.', '_')}.alpha"] = tensor(4.0f);
        }
        var file = dir.File("other.safetensors");
        Safetensors.Save(file, tensors);

        using var a = Unet();
        using var aTe = TextEncoder();
        LoraWeights.Apply(a, aTe, reference);
        using var b = Unet();
        using var bTe = TextEncoder();
        var result = LoraWeights.Apply(b, bTe, file);
        result.UnetLayers.Should().Be(layers.Count(l => l.Component == "unet"));
        result.TextEncoderLayers.Should().Be(layers.Count(l => l.Component == "text_encoder"));
        var sa = a.state_dict().Concat(aTe.state_dict()).ToList();
        var sb = b.state_dict().Concat(bTe.state_dict()).ToList();
        for (int i = 0; i < sa.Count; i++) Golden.AssertClose(sb[i].Value, sa[i].Value, 1e-6, 0, sa[i].Key);
    }

    [Fact]
    public void Kohya_pointwise_conv_updates_merge_into_1x1_convolutions()
    {
        using var dir = new TempDir();
        using var unet = Unet();
        const string module = "down_blocks.1.attentions.0.proj_in";
        var before = unet.state_dict()[module + ".weight"].clone();
        before.shape.Should().Equal(64, 64, 1, 1);
        using var g = new Generator(6);
        var down = randn([2, 64, 1, 1], generator: g);
        var up = randn([64, 2, 1, 1], generator: g);
        var file = dir.File("locon.safetensors");
        var key = "lora_unet_" + module.Replace('.', '_');
        Safetensors.Save(file, new Dictionary<string, Tensor> { [key + ".lora_down.weight"] = down, [key + ".lora_up.weight"] = up, [key + ".alpha"] = tensor(1.0f) });
        LoraWeights.Apply(unet, null, file, 0.8).Should().Be(new LoraApplyResult(1, 0, "kohya"));
        var expected = before + (up.view(64, 2).matmul(down.view(2, 64)) * (0.8 * 1.0 / 2)).view(64, 64, 1, 1);
        Golden.AssertClose(unet.state_dict()[module + ".weight"], expected, 1e-6, 0, module);
    }

    [Fact]
    public void Bad_files_are_one_line_errors_and_change_nothing()
    {
        using var dir = new TempDir();
        using var unet = Unet();
        var before = unet.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        string Write(string name, Dictionary<string, Tensor> t)
        {
            var p = dir.File(name);
            Safetensors.Save(p, t);
            return p;
        }
        var good = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q";
        var cases = new (string File, string Message)[]
        {
            (Write("unknown-module.safetensors", new() { ["unet.nope.to_q.lora.down.weight"] = zeros(2, 64), ["unet.nope.to_q.lora.up.weight"] = zeros(64, 2),
                [good + ".lora.down.weight"] = ones(2, 64), [good + ".lora.up.weight"] = ones(64, 2) }), "*does not have*"),
            (Write("half.safetensors", new() { [good + ".lora.down.weight"] = ones(2, 64) }), "*only its down matrix*"),
            (Write("shape.safetensors", new() { [good + ".lora.down.weight"] = ones(2, 63), [good + ".lora.up.weight"] = ones(64, 2) }), "*do not fit weight*"),
            (Write("te.safetensors", new() { ["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.down.weight"] = ones(2, 32),
                ["text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_linear_layer.up.weight"] = ones(32, 2) }), "*no text encoder was given*"),
            (Write("nan.safetensors", new() { [good + ".lora.down.weight"] = full(2, 64, float.NaN), [good + ".lora.up.weight"] = ones(64, 2) }), "*NaN*"),
            (Write("none.safetensors", new() { ["conv_in.weight"] = ones(2) }), "*not LoRA weights*"),
            (Write("sdxl.safetensors", new() { ["text_encoder_2.x.lora.down.weight"] = ones(2, 2) }), "*SDXL*"),
            (Write("ldm.safetensors", new() { ["lora_unet_input_blocks_1_1_proj_in.lora_down.weight"] = ones(2, 2), ["lora_unet_input_blocks_1_1_proj_in.lora_up.weight"] = ones(2, 2) }), "*original Stable Diffusion block names*"),
            (dir.File("missing.safetensors"), "*not found*"),
            // An integer matrix crashed the native matmul (the process died with a C++ trace); bool likewise.
            (Write("int.safetensors", new() { [good + ".lora.down.weight"] = zeros(2, 64, ScalarType.Int32), [good + ".lora.up.weight"] = ones(64, 2) }), "*has dtype I32, expected a floating-point type*"),
            (Write("bool.safetensors", new() { [good + ".lora.down.weight"] = zeros(2, 64, ScalarType.Bool), [good + ".lora.up.weight"] = ones(64, 2) }), "*has dtype BOOL*"),
            (Write("rank0.safetensors", new() { [good + ".lora.down.weight"] = zeros(0, 64), [good + ".lora.up.weight"] = zeros(64, 0) }), "*rank 0*"),
            (Write("scalar.safetensors", new() { [good + ".lora.down.weight"] = tensor(1f), [good + ".lora.up.weight"] = ones(64, 2) }), "*are not matrices*"),
            (Write("twice.safetensors", new() { [good + ".lora.down.weight"] = ones(2, 64), [good + ".lora.up.weight"] = ones(64, 2),
                [good + ".lora_A.weight"] = ones(2, 64), [good + ".lora_B.weight"] = ones(64, 2) }), "*a second time*"),
            (Write("two-formats.safetensors", new() { [good + ".lora.down.weight"] = ones(2, 64), [good + ".lora.up.weight"] = ones(64, 2),
                ["lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight"] = ones(2, 64),
                ["lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight"] = ones(64, 2) }), "*appear a second time*"),
            (Write("alpha-inf.safetensors", new() { [good + ".lora.down.weight"] = ones(2, 64), [good + ".lora.up.weight"] = ones(64, 2), [good + ".alpha"] = tensor(float.PositiveInfinity) }), "*not a finite number*"),
        };
        foreach (var (file, message) in cases)
        {
            var act = () => LoraWeights.Apply(unet, null, file);
            act.Should().Throw<DreamBoothException>(file).WithMessage(message).Which.Message.Should().NotContain("\n");
        }
        // An alpha without weights is only a warning.
        var orphan = Write("orphan.safetensors", new() { [good + ".lora.down.weight"] = ones(2, 64), [good + ".lora.up.weight"] = ones(64, 2),
            ["unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k.alpha"] = tensor(2f) });
        using (var read = LoraFile.Read(orphan))
            read.Warnings.Should().ContainSingle().Which.Should().Contain("1 alpha value(s) belong to no LoRA weights").And.Contain("to_k");
        // A scale that overflows the merged weights is named, and nothing is changed.
        var fine = Write("fine.safetensors", new() { [good + ".lora.down.weight"] = ones(2, 64), [good + ".lora.up.weight"] = ones(64, 2) });
        var huge = () => LoraWeights.Apply(unet, null, fine, scale: 1e39);
        huge.Should().Throw<DreamBoothException>().WithMessage("*merged with --lora-scale 1E+39*overflow; use a smaller scale");
        foreach (var (k, v) in unet.state_dict()) TensorEquality.Equal(v, before[k]).Should().BeTrue(k);
    }
}
