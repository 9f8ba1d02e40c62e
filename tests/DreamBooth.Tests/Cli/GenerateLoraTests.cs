using DreamBooth.Cli.Commands;
using DreamBooth.Data;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Models.Unet;
using DreamBooth.Tests.Infrastructure;
using DreamBooth.Tests.IO;
using DreamBooth.Tests.Training;
using DreamBooth.Training.Lora;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Cli;

/// <summary>
/// `dreambooth generate --lora FILE [--lora-scale X]` on tiny-sd1 with a LoRA written by our trainer's writer
/// (<see cref="LoraWeights.Save"/>, diffusers keys, UNet and text encoder): the LoRA changes the images, scale 0 gives
/// exactly the base images, the images equal those of a model folder whose weights were merged by hand
/// (W + scale·(alpha/r)·B·A), the PNG metadata names the LoRA, and bad input is one line, exit 2, nothing written.
/// </summary>
public class GenerateLoraTests
{
    private const int Rank = 2;
    private const double Alpha = 6; // alpha ≠ rank: the writer folds alpha/rank into the up matrix
    private const string Module = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q";

    private static string Model => Golden.PathOf("tiny-sd1");

    private static string[] Args(string output, params string[] extra) =>
        ["generate", "--model", Model, "--prompt", "a photo of sks dog", "--num-images", "2", "--steps", "2", "--seed", "3", "--output", output, .. extra];

    /// <summary>tiny-sd1 with LoRA adapters on the UNet and the text encoder whose up matrices are random (as after training).</summary>
    private sealed class AdaptedTinySd1 : IDisposable
    {
        public UNet2DConditionModel Unet { get; } = UNet2DConditionModel.FromPretrained(Golden.PathOf("tiny-sd1", "unet"));
        public CLIPTextModel TextEncoder { get; } = CLIPTextModel.FromPretrained(Golden.PathOf("tiny-sd1", "text_encoder"));
        public IReadOnlyList<LoraLayer> Layers { get; }

        public AdaptedTinySd1()
        {
            var settings = LoraSettings.Create(Rank, Alpha);
            using var g = new Generator(11);
            Layers = [.. LoraAdapters.AddToUnet(Unet, settings, g), .. LoraAdapters.AddToTextEncoder(TextEncoder, settings, g)];
            using var _ = no_grad();
            foreach (var l in Layers) l.Layer.Up.copy_(randn(l.Layer.Up.shape, generator: g) * 0.2);
        }

        /// <summary>W + scale·(alpha/r)·B·A of every adapted layer, by module path with component prefix.</summary>
        public Dictionary<string, Tensor> Merged(double scale) => Layers.ToDictionary(
            l => $"{l.Component}.{l.Path}.weight",
            l => (l.Layer.Weight.detach() + l.Layer.Up.detach().matmul(l.Layer.Down.detach()) * (scale * Alpha / Rank)).contiguous());

        public void Dispose()
        {
            Unet.Dispose();
            TextEncoder.Dispose();
        }
    }

    private static string WriteLora(TempDir dir, AdaptedTinySd1 model)
    {
        var path = dir.File("my-subject", LoraWeights.FileName);
        LoraWeights.Save(path, model.Layers);
        return path;
    }

    private static Tensor Pixels(string folder, string name) => ImageIO.Load(Path.Combine(folder, name));

    private static GenerationParameters Parameters(string folder, string name) =>
        GenerationParameters.Parse(PngText.Get(PngText.Read(Path.Combine(folder, name)), GenerationParameters.PngKey)!);

    [Fact]
    public void Merge_of_a_trainer_lora_file_is_W_plus_scale_alpha_over_rank_B_A()
    {
        using var dir = new TempDir();
        using var adapted = new AdaptedTinySd1();
        var file = WriteLora(dir, adapted);
        const double scale = 0.7;
        var expected = adapted.Merged(scale);

        using var unet = UNet2DConditionModel.FromPretrained(Golden.PathOf("tiny-sd1", "unet"));
        using var te = CLIPTextModel.FromPretrained(Golden.PathOf("tiny-sd1", "text_encoder"));
        var before = unet.state_dict().Concat(te.state_dict()).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using (var lora = LoraFile.Read(file))
        {
            var result = LoraWeights.Apply(unet, te, lora, scale);
            result.UnetLayers.Should().Be(adapted.Layers.Count(l => l.Component == LoraAdapters.Unet));
            result.TextEncoderLayers.Should().Be(adapted.Layers.Count(l => l.Component == LoraAdapters.TextEncoder));
        }
        var after = unet.state_dict().ToDictionary(kv => "unet." + kv.Key, kv => kv.Value)
            .Concat(te.state_dict().ToDictionary(kv => "text_encoder." + kv.Key, kv => kv.Value)).ToDictionary();
        after.Keys.Should().Contain(expected.Keys);
        foreach (var (key, value) in expected) Golden.AssertClose(after[key], value, 1e-6, 0, key);
        foreach (var (key, value) in after.Where(kv => !expected.ContainsKey(kv.Key)))
        {
            var original = before[key[(key.IndexOf('.') + 1)..]];
            TensorEquality.Equal(value, original).Should().BeTrue($"{key} has no LoRA and must not change");
        }
        // The update is not a no-op.
        (expected["unet." + Module + ".weight"] - adapted.Layers.First(l => l.Path == Module).Layer.Weight).abs().max().item<float>().Should().BeGreaterThan(1e-3f);
    }

    [Fact]
    [Trait("Category", "EndToEnd")]
    public void Lora_changes_the_images_scale_zero_is_the_base_model_and_the_images_match_hand_merged_weights()
    {
        using var dir = new TempDir();
        using var adapted = new AdaptedTinySd1();
        var file = WriteLora(dir, adapted);
        string baseOut = dir.File("base"), loraOut = dir.File("lora"), zeroOut = dir.File("zero"), halfOut = dir.File("half"), mergedOut = dir.File("merged");

        var (code, error) = CliRunner.Run(Args(baseOut));
        code.Should().Be(0, error);
        (code, error) = CliRunner.Run(Args(loraOut, "--lora", file));
        code.Should().Be(0, error);
        (code, error) = CliRunner.Run(Args(zeroOut, "--lora", file, "--lora-scale", "0"));
        code.Should().Be(0, error);
        (code, error) = CliRunner.Run(Args(halfOut, "--lora", Path.GetDirectoryName(file)!, "--lora-scale", "0.5")); // the folder holding the file
        code.Should().Be(0, error);

        // A copy of tiny-sd1 whose UNet and text encoder weights were merged by hand at scale 0.5.
        var merged = adapted.Merged(0.5);
        var modelCopy = dir.File("tiny-sd1-merged");
        Folders.Copy(Model, modelCopy);
        SaveMerged(adapted.Unet, "unet.", merged, Path.Combine(modelCopy, "unet", "diffusion_pytorch_model.safetensors"));
        SaveMerged(adapted.TextEncoder, "text_encoder.", merged, Path.Combine(modelCopy, "text_encoder", "model.safetensors"));
        (code, error) = CliRunner.Run([.. Args(mergedOut), "--model", modelCopy]);
        code.Should().Be(0, error);

        foreach (var name in new[] { "0000-seed3.png", "0001-seed4.png" })
        {
            using var b = Pixels(baseOut, name);
            using var l = Pixels(loraOut, name);
            using var z = Pixels(zeroOut, name);
            using var h = Pixels(halfOut, name);
            using var m = Pixels(mergedOut, name);
            TensorEquality.Equal(z, b).Should().BeTrue($"{name}: --lora-scale 0 must give exactly the base image");
            (l - b).abs().max().item<float>().Should().BeGreaterThan(8 / 255f, $"{name}: the LoRA must change the image");
            (h - l).abs().max().item<float>().Should().BeGreaterThan(4 / 255f, $"{name}: the scale must matter");
            // Merging computes the same sums in another order: allow one 8-bit level.
            (h - m).abs().max().item<float>().Should().BeLessThanOrEqualTo(1 / 255f + 1e-6f, $"{name}: --lora-scale 0.5 equals hand-merged weights");
        }

        var p = Parameters(loraOut, "0001-seed4.png");
        p.Extra.Should().Contain(new KeyValuePair<string, string>("Lora", "my-subject")).And.Contain(new KeyValuePair<string, string>("Lora scale", "1"));
        p.Extra.Should().Contain(new KeyValuePair<string, string>("Model", "tiny-sd1"));
        Parameters(zeroOut, "0000-seed3.png").Extra.Should().Contain(new KeyValuePair<string, string>("Lora scale", "0"));
        Parameters(halfOut, "0000-seed3.png").Extra.Should().Contain(new KeyValuePair<string, string>("Lora scale", "0.5"));
        Parameters(baseOut, "0000-seed3.png").Extra.Select(e => e.Key).Should().NotContain(["Lora", "Lora scale"]);
    }

    [Theory]
    [InlineData("/x/pytorch_lora_weights.safetensors", "x")]
    [InlineData("/x/dog-v2.safetensors", "dog-v2")]
    public void Lora_name_is_the_file_name_or_for_the_diffusers_default_name_its_folder(string path, string name) =>
        GenerateCommand.LoraName(path).Should().Be(name);

    // The base weights of an adapted model (adapter parameters left out), with the merged weights in place of the adapted ones.
    private static void SaveMerged(nn.Module model, string prefix, Dictionary<string, Tensor> merged, string path)
    {
        var tensors = model.state_dict().Where(kv => !kv.Key.Contains(".lora_A.") && !kv.Key.Contains(".lora_B."))
            .ToDictionary(kv => kv.Key, kv => merged.GetValueOrDefault(prefix + kv.Key) ?? kv.Value);
        File.Delete(path);
        Safetensors.Save(path, tensors);
    }

    [Fact]
    public void Bad_lora_input_is_one_line_exit_2_and_writes_nothing()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "out");
        const string good = "unet." + Module;
        string Write(string name, Dictionary<string, Tensor> tensors)
        {
            var p = dir.File(name);
            Safetensors.Save(p, tensors);
            return p;
        }
        var missing = dir.File("missing.safetensors");
        var text = dir.Text("notes.safetensors", "these are not weights");
        var noModule = Write("other-model.safetensors", new()
        {
            ["unet.nope.to_q.lora.down.weight"] = zeros(Rank, 64), ["unet.nope.to_q.lora.up.weight"] = zeros(64, Rank),
        });
        var shape = Write("wrong-shape.safetensors", new() { [good + ".lora.down.weight"] = ones(Rank, 63), [good + ".lora.up.weight"] = ones(64, Rank) });
        var folder = Directory.CreateDirectory(dir.File("empty-folder")).FullName;

        Corpus.Corpus.CliFails(dir, Args(output, "--lora", missing), "--lora", "missing.safetensors", "not found");
        Corpus.Corpus.CliFails(dir, Args(output, "--lora", text), "--lora", "notes.safetensors", "not a valid safetensors file");
        Corpus.Corpus.CliFails(dir, Args(output, "--lora", noModule), "--lora", "other-model.safetensors", "unet.nope.to_q", "does not have");
        Corpus.Corpus.CliFails(dir, Args(output, "--lora", shape), "--lora", "wrong-shape.safetensors", Module, "do not fit weight");
        Corpus.Corpus.CliFails(dir, Args(output, "--lora", folder), "--lora", "empty-folder", LoraWeights.FileName);
        Corpus.Corpus.CliFails(dir, Args(output, "--lora", shape, "--lora-scale", "abc"), "--lora-scale: 'abc' is not a number");
        Corpus.Corpus.CliFails(dir, Args(output, "--lora", shape, "--lora-scale", "NaN"), "--lora-scale must be a finite number");
        Corpus.Corpus.CliFails(dir, Args(output, "--lora-scale", "0.5"), "--lora-scale needs --lora");
        Corpus.Corpus.CliFails(dir, Args(output, "--lora", " "), "--lora must name");
        Directory.Exists(output).Should().BeFalse();
    }
}
