using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO;

public class SafetensorsRoundTripTests
{
    private static byte[] Bytes(Tensor t) => t.contiguous().bytes.ToArray();

    public static TheoryData<string> DTypes => new() { "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL" };

    // Values chosen to include the awkward ones: negative zero, subnormals, infinities, NaN, extremes of each type.
    private static Tensor Sample(string dtype)
    {
        var type = Safetensors.ToScalarType(dtype);
        if (type == ScalarType.Bool) return tensor(new[] { true, false, false, true, true, false }).reshape(2, 3);
        if (type is ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16)
            return tensor(new[] { 0.0, -0.0, 1.5, -2.25, 1e-7, double.PositiveInfinity, double.NegativeInfinity, double.NaN, 65504, 3.0e38 })
                .reshape(2, 5).to_type(type);
        var ints = new long[] { 0, 1, -1, 127, -128, 255, 32767, -32768, int.MaxValue, long.MinValue, long.MaxValue };
        return tensor(ints).to_type(type).reshape(11, 1);
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Every_dtype_round_trips_bit_exactly(string dtype)
    {
        using var dir = new TempDir();
        var path = dir.File("t.safetensors");
        using var t = Sample(dtype);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["x"] = t });
        using var reader = Safetensors.Open(path);
        reader.Entries["x"].DType.Should().Be(dtype);
        reader.Entries["x"].Shape.Should().Equal(t.shape);
        using var back = reader.Load("x");
        back.dtype.Should().Be(t.dtype);
        back.shape.Should().Equal(t.shape);
        Bytes(back).Should().Equal(Bytes(t));
    }

    [Fact]
    public void Zero_dim_and_empty_tensors_round_trip()
    {
        using var dir = new TempDir();
        var path = dir.File("t.safetensors");
        using var scalar = tensor(3.5f);
        using var empty0 = zeros(0);
        using var empty2 = zeros(new long[] { 3, 0, 2 }, ScalarType.Int64);
        using var after = arange(4, ScalarType.Float32);
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["scalar"] = scalar, ["empty0"] = empty0, ["empty2"] = empty2, ["z_after"] = after });

        using var reader = Safetensors.Open(path);
        reader.Entries["scalar"].Shape.Should().BeEmpty();
        reader.Entries["scalar"].ElementCount.Should().Be(1);
        reader.Entries["empty2"].Shape.Should().Equal(3, 0, 2);
        reader.Entries["empty2"].ElementCount.Should().Be(0);
        var all = reader.LoadAll();
        try
        {
            all["scalar"].dim().Should().Be(0);
            all["scalar"].item<float>().Should().Be(3.5f);
            all["empty0"].shape.Should().Equal(0);
            all["empty2"].shape.Should().Equal(3, 0, 2);
            all["empty2"].dtype.Should().Be(ScalarType.Int64);
            all["z_after"].data<float>().ToArray().Should().Equal(0, 1, 2, 3);
        }
        finally
        {
            foreach (var t in all.Values) t.Dispose();
        }
    }

    [Fact]
    public void Metadata_round_trips_and_a_file_without_tensors_is_valid()
    {
        using var dir = new TempDir();
        var path = dir.File("t.safetensors");
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcödé \"quoted\" <tag> + 1", ["empty"] = "" };
        Safetensors.Save(path, [], metadata);
        using var reader = Safetensors.Open(path);
        reader.Entries.Should().BeEmpty();
        reader.Metadata.Should().BeEquivalentTo(metadata);
    }

    [Fact]
    public void Names_with_unicode_and_json_special_characters_round_trip()
    {
        using var dir = new TempDir();
        var path = dir.File("t.safetensors");
        using var a = ones(2);
        using var b = zeros(3);
        var names = new[] { "down_blocks.0.attentions.0.proj_in.weight", "ünï \"q\" \\ + <x> 日本" };
        Safetensors.Save(path, new Dictionary<string, Tensor> { [names[0]] = a, [names[1]] = b });
        using var reader = Safetensors.Open(path);
        reader.Entries.Keys.Should().BeEquivalentTo(names);
        using var back = reader.Load(names[1]);
        back.shape.Should().Equal(3);
    }

    [Fact]
    public void Floating_tensors_convert_on_load_and_integers_do_not()
    {
        using var dir = new TempDir();
        var path = dir.File("t.safetensors");
        using var f = tensor(new[] { 1.0f, 1.0f / 3, -2.5f });
        using var i = tensor(new long[] { 7, -7 });
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["f"] = f, ["i"] = i });
        var all = Safetensors.LoadAll(path, ScalarType.BFloat16);
        try
        {
            all["f"].dtype.Should().Be(ScalarType.BFloat16);
            Bytes(all["f"]).Should().Equal(Bytes(f.to_type(ScalarType.BFloat16)));
            all["i"].dtype.Should().Be(ScalarType.Int64);
        }
        finally
        {
            foreach (var t in all.Values) t.Dispose();
        }
    }

    [Fact]
    public void Non_contiguous_tensors_are_written_in_logical_order()
    {
        using var dir = new TempDir();
        var path = dir.File("t.safetensors");
        using var m = arange(6, ScalarType.Float32).reshape(2, 3);
        using var t = m.t();
        t.is_contiguous().Should().BeFalse();
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["t"] = t });
        using var reader = Safetensors.Open(path);
        using var back = reader.Load("t");
        back.shape.Should().Equal(3, 2);
        back.data<float>().ToArray().Should().Equal(0, 3, 1, 4, 2, 5);
    }

    [Fact]
    public void Bytes_are_deterministic_and_follow_the_format_rules()
    {
        using var dir = new TempDir();
        using var a = arange(5, ScalarType.Float32);
        using var b = tensor(new long[] { 1, 2, 3 });
        using var c = ones(new long[] { 2, 2 }, ScalarType.Float16);
        var first = dir.File("1.safetensors");
        var second = dir.File("2.safetensors");
        Safetensors.Save(first, new Dictionary<string, Tensor> { ["b"] = b, ["a"] = a, ["c"] = c },
            new Dictionary<string, string> { ["z"] = "1", ["format"] = "pt" });
        Safetensors.Save(second, new Dictionary<string, Tensor> { ["c"] = c, ["a"] = a, ["b"] = b },
            new Dictionary<string, string> { ["format"] = "pt", ["z"] = "1" });
        var bytes = File.ReadAllBytes(first);
        File.ReadAllBytes(second).Should().Equal(bytes, "the same tensors and metadata give the same bytes");

        // Format rules: u64 LE header length N, a multiple of 8; N bytes of compact JSON padded with spaces;
        // __metadata__ first, then tensors sorted by name with contiguous data in that order.
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        (n % 8).Should().Be(0);
        var header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        var json = header.TrimEnd(' ');
        header[json.Length..].Should().MatchRegex("^ *$");
        (header.Length - json.Length).Should().BeLessThan(8);
        json.Should().Be("{\"__metadata__\":{\"format\":\"pt\",\"z\":\"1\"}," +
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]}," +
                         "\"b\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[20,44]}," +
                         "\"c\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[44,52]}}");
        bytes.Length.Should().Be(8 + (int)n + 52);
        bytes.AsSpan(8 + (int)n, 20).ToArray().Should().Equal(Bytes(a));
    }

    [Fact, Trait("Category", Golden.Category)]
    public void Resaving_a_golden_weights_file_reproduces_it_byte_for_byte()
    {
        var golden = Golden.PathOf("tiny-sd1", "vae", "diffusion_pytorch_model.safetensors");
        using var dir = new TempDir();
        var path = dir.File("vae.safetensors");
        using (var reader = Safetensors.Open(golden))
        {
            var all = reader.LoadAll();
            try
            {
                Safetensors.Save(path, all, reader.Metadata);
            }
            finally
            {
                foreach (var t in all.Values) t.Dispose();
            }
        }
        File.ReadAllBytes(path).Should().Equal(File.ReadAllBytes(golden));
    }

    [Fact]
    public void Failure_in_the_middle_of_writing_leaves_the_old_file_and_no_temp_file()
    {
        using var dir = new TempDir();
        var path = dir.File("model.safetensors");
        using (var old = full(3, 7.0f)) Safetensors.Save(path, new Dictionary<string, Tensor> { ["old"] = old });
        var before = File.ReadAllBytes(path);

        // "a" is written, then copying "b" (a meta tensor: shape without data) to the CPU throws mid-file.
        using var a = ones(1000);
        using var b = empty(new long[] { 1000 }, device: torch.META);
        var act = () => Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        act.Should().Throw<Exception>();
        File.ReadAllBytes(path).Should().Equal(before);
        Directory.GetFiles(dir.Path).Should().Equal(path);
    }

    [Fact]
    public void Failure_while_enumerating_tensors_leaves_the_old_file()
    {
        using var dir = new TempDir();
        var path = dir.File("model.safetensors");
        using (var old = full(3, 7.0f)) Safetensors.Save(path, new Dictionary<string, Tensor> { ["old"] = old });
        var before = File.ReadAllBytes(path);
        using var a = ones(10);

        IEnumerable<KeyValuePair<string, Tensor>> Broken()
        {
            yield return new("a", a);
            throw new IOException("source went away");
        }

        var act = () => Safetensors.Save(path, Broken());
        act.Should().Throw<IOException>();
        File.ReadAllBytes(path).Should().Equal(before);
        Directory.GetFiles(dir.Path).Should().Equal(path);
    }

    [Fact]
    public void Writer_rejects_names_the_reader_would_reject()
    {
        using var dir = new TempDir();
        using var t = ones(1);
        var path = dir.File("x.safetensors");
        ((Action)(() => Safetensors.Save(path, new Dictionary<string, Tensor> { [""] = t }))).Should().Throw<ArgumentException>();
        ((Action)(() => Safetensors.Save(path, new Dictionary<string, Tensor> { ["__metadata__"] = t }))).Should().Throw<ArgumentException>();
        ((Action)(() => Safetensors.Save(path, [new("x", t), new("x", t)]))).Should().Throw<ArgumentException>().WithMessage("*'x'*");
        using var complex = zeros(new long[] { 2 }, ScalarType.ComplexFloat32);
        ((Action)(() => Safetensors.Save(path, new Dictionary<string, Tensor> { ["c"] = complex }))).Should().Throw<ArgumentException>();
        File.Exists(path).Should().BeFalse();
    }

    [Fact]
    public void Chunked_native_copies_cover_every_byte()
    {
        // Tensors over 2 GiB go through 1-D slices; a small chunk size exercises that path on a small tensor.
        using var t = arange(101, ScalarType.Float32);
        using var ms = new MemoryStream();
        Safetensors.WriteNative(ms, t, chunkBytes: 12);
        ms.ToArray().Should().Equal(Bytes(t));
        ms.Position = 0;
        using var back = zeros(101);
        Safetensors.ReadNative(ms, back, chunkBytes: 12);
        back.data<float>().ToArray().Should().Equal(t.data<float>().ToArray());
    }
}
