using System.Text;
using DreamBooth.IO;
using DreamBooth.Models.Clip;
using DreamBooth.Tests.IO;
using DreamBooth.Tests.IO.Pickle;
using DreamBooth.Tests.Models.Clip;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Corpus;

/// <summary>
/// Broken weights for a real model (a tiny CLIP text encoder folder, loaded with <c>CLIPTextModel.FromPretrained</c>):
/// wrong dtypes, shapes and names, broken headers, hostile sizes, non-finite values, pickle files.
/// </summary>
public class WeightsCorpusTests
{
    private const string Norm = "text_model.final_layer_norm.weight";

    /// <summary>A text encoder folder with seeded weights; <paramref name="edit"/> changes the state dict before it is saved.</summary>
    private static string Folder(TempDir dir, Action<Dictionary<string, Tensor>>? edit = null)
    {
        var config = TinyClip.Config();
        using var model = TinyClip.Randomize(new CLIPTextModel(config), seed: 5);
        var folder = dir.File("text_encoder");
        Directory.CreateDirectory(folder);
        ConfigJson.Write(Path.Combine(folder, "config.json"), config);
        var tensors = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        edit?.Invoke(tensors);
        Safetensors.Save(Path.Combine(folder, "model.safetensors"), tensors);
        foreach (var t in tensors.Values) t.Dispose();
        dir.File("out", "keep.txt");
        File.WriteAllText(dir.File("out", "keep.txt"), "an output folder that must stay as it is");
        return folder;
    }

    private static Action Load(string folder) => () => CLIPTextModel.FromPretrained(folder).Dispose();

    private static string WeightsFile(string folder) => Path.Combine(folder, "model.safetensors");

    private static void Replace(Dictionary<string, Tensor> tensors, string name, Tensor value)
    {
        tensors[name].Dispose();
        tensors[name] = value;
    }

    [Fact]
    public void Integer_tensor_where_the_model_has_a_float_parameter()
    {
        // Decision: floats convert between float types (fp16 files load into fp32 models), integers never become floats.
        using var dir = new TempDir();
        var folder = Folder(dir, t => Replace(t, Norm, ones(16, ScalarType.Int64)));
        Corpus.Fails(dir, Load(folder), WeightsFile(folder), $"tensor '{Norm}' is I64", "integer values are not converted to floating point");
    }

    [Fact]
    public void Half_precision_weights_convert_into_a_float32_model()
    {
        using var dir = new TempDir();
        var folder = Folder(dir, t => Replace(t, Norm, full(16, 2.0, ScalarType.Float16)));
        using var model = CLIPTextModel.FromPretrained(folder);
        model.state_dict()[Norm].dtype.Should().Be(ScalarType.Float32);
        model.state_dict()[Norm].sum().item<float>().Should().Be(32);
    }

    [Fact]
    public void Shape_mismatch() =>
        ShapeCase(t => Replace(t, Norm, ones(17)), "shape mismatch in 1 key(s)", $"{Norm} file [17] vs model [16]");

    [Fact]
    public void Missing_tensor() => ShapeCase(t => { t[Norm].Dispose(); t.Remove(Norm); }, "missing 1 key(s)", Norm);

    [Fact]
    public void Unexpected_tensor() => ShapeCase(t => t["text_model.extra.weight"] = ones(2), "unexpected 1 key(s)", "text_model.extra.weight");

    private static void ShapeCase(Action<Dictionary<string, Tensor>> edit, params string[] mentions)
    {
        using var dir = new TempDir();
        var folder = Folder(dir, edit);
        Corpus.Fails(dir, Load(folder), [WeightsFile(folder), "weights do not fit the model config", .. mentions]);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Non_finite_values(float value)
    {
        using var dir = new TempDir();
        var folder = Folder(dir, t => t[Norm][3] = value);
        Corpus.Fails(dir, Load(folder), WeightsFile(folder), $"tensor '{Norm}' contains NaN or infinite values");
    }

    /// <summary>Header-level damage, written raw over the folder's weights file: (case, header, data bytes, mentions).</summary>
    public static TheoryData<string, string, int, string> BrokenHeaders => new()
    {
        { "duplicate tensor names", $$$"""{"{{{Norm}}}":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"{{{Norm}}}":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""", 16, $"tensor '{Norm}' is declared twice" },
        { "overlapping offsets", $$$"""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"{{{Norm}}}":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""", 24, $"tensor '{Norm}' data [8, 24) overlaps tensor 'a'" },
        { "a 40 GB tensor claimed by a 64-byte file", $$$"""{"{{{Norm}}}":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,40000000000]}}""", 64, $"tensor '{Norm}': data_offsets [0, 40000000000] run past the 64 data bytes" },
        { "a shape whose size overflows", $$$"""{"{{{Norm}}}":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", 8, "needs more than 2^63" },
        { "an unsupported dtype", $$$"""{"{{{Norm}}}":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}""", 8, $"tensor '{Norm}': dtype 'F8_E4M3' is not supported" },
        { "an unknown dtype", $$$"""{"{{{Norm}}}":{"dtype":"float32","shape":[2],"data_offsets":[0,8]}}""", 8, "unknown dtype 'float32'" },
        { "a negative dimension", $$$"""{"{{{Norm}}}":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "shape entry -2 is not a non-negative integer" },
        { "header JSON that is a list", "[1,2,3]", 0, "header JSON is an array, not an object" },
        { "header nested 100 levels deep", "{\"__metadata__\":" + new string('[', 100) + new string(']', 100) + "}", 0, "header JSON nests deeper than 8 levels" },
    };

    [Theory]
    [MemberData(nameof(BrokenHeaders))]
    public void Broken_header(string name, string header, int dataBytes, string mention)
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        dir.Raw("text_encoder/model.safetensors", header, new byte[dataBytes]);
        var allocated = new Allocated();
        Corpus.FailsCase(name, dir, allocated.Measure(Load(folder)), WeightsFile(folder), "not a valid safetensors file", mention);
        allocated.Bytes.Should().BeLessThan(16 << 20, name + " must be rejected before allocating");
    }

    [Fact]
    public void Truncated_weights_file()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        using (var fs = new FileStream(WeightsFile(folder), FileMode.Open)) fs.SetLength(fs.Length - 10);
        Corpus.Fails(dir, Load(folder), WeightsFile(folder), "run past", "(truncated?)");
    }

    [Fact]
    public void Zero_byte_weights_file()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        File.WriteAllBytes(WeightsFile(folder), []);
        Corpus.Fails(dir, Load(folder), WeightsFile(folder), "file is 0 bytes, shorter than the 8-byte header length");
    }

    [Fact]
    public void Header_length_of_2_to_the_60()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        dir.Raw("text_encoder/model.safetensors", "{}", headerLength: 1UL << 60);
        Corpus.Fails(dir, Load(folder), WeightsFile(folder), $"header length {1UL << 60} runs past the end of the file");
    }

    [Fact]
    public void Header_over_the_100_MB_limit_in_a_sparse_file()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        dir.Raw("text_encoder/model.safetensors", "{", headerLength: 150_000_000);
        using (var fs = new FileStream(WeightsFile(folder), FileMode.Open)) fs.SetLength(200_000_000); // sparse: no disk, no memory
        var allocated = new Allocated();
        Corpus.Fails(dir, allocated.Measure(Load(folder)), WeightsFile(folder), "header length 150000000 exceeds the limit of 100000000 bytes");
        allocated.Bytes.Should().BeLessThan(16 << 20, "the model is built (a few MB) but the header is never read");
    }

    [Fact]
    public void Shard_index_naming_a_missing_shard()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        File.Delete(WeightsFile(folder));
        dir.Text("text_encoder/model.safetensors.index.json", $$$"""{"weight_map": {"{{{Norm}}}": "model-00001-of-00002.safetensors"}}""");
        Corpus.Fails(dir, Load(folder), "model.safetensors.index.json", "shard 'model-00001-of-00002.safetensors'", Norm, "not found");
    }

    [Fact]
    public void Pickle_weights_are_refused_by_default()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        var tensors = Safetensors.LoadAll(WeightsFile(folder));
        File.Delete(WeightsFile(folder));
        File.WriteAllBytes(Path.Combine(folder, "pytorch_model.bin"), TorchPickleWriter.SaveZip(tensors));
        foreach (var t in tensors.Values) t.Dispose();
        Corpus.Fails(dir, Load(folder), Path.Combine(folder, "pytorch_model.bin"), "refusing to load a pickle checkpoint, because unpickling can execute arbitrary code",
            "save_pretrained(out, safe_serialization=True)", "--allow-pickle");
    }

    [Fact]
    public void Hostile_pickle_is_refused_even_when_pickles_are_allowed()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        File.Delete(WeightsFile(folder));
        var bin = Path.Combine(folder, "pytorch_model.bin");
        File.WriteAllBytes(bin, TorchPickleWriter.Zip(new PickleBuilder().Proto(2).Global("os", "system").Str("touch pwned").Op(0x85).Reduce().Stop().ToArray(), []));
        Corpus.Fails(dir, () => CLIPTextModel.FromPretrained(ModelComponent.Open(folder, new ModelFolderOptions(AllowPickle: true))).Dispose(),
            bin, "refusing pickle global 'os.system'");
    }

    [Fact]
    public void Pickle_tensor_of_the_wrong_dtype_when_pickles_are_allowed()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        var tensors = Safetensors.LoadAll(WeightsFile(folder));
        Replace(tensors, Norm, ones(16, ScalarType.Bool));
        File.Delete(WeightsFile(folder));
        var bin = Path.Combine(folder, "pytorch_model.bin");
        File.WriteAllBytes(bin, TorchPickleWriter.SaveZip(tensors));
        foreach (var t in tensors.Values) t.Dispose();
        Corpus.Fails(dir, () => CLIPTextModel.FromPretrained(ModelComponent.Open(folder, new ModelFolderOptions(AllowPickle: true))).Dispose(),
            bin, $"tensor '{Norm}' is BOOL", "integer values are not converted");
    }

    [Fact]
    public void Weights_header_that_is_not_utf8()
    {
        using var dir = new TempDir();
        var folder = Folder(dir);
        var header = Encoding.UTF8.GetBytes("{\"\u00e9\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        header[2] = 0xFF;
        dir.RawBytes("text_encoder/model.safetensors", header, new byte[4]);
        Corpus.Fails(dir, Load(folder), WeightsFile(folder), "header is not valid UTF-8");
    }
}
