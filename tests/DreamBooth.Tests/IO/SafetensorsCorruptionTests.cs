using System.Text;
using DreamBooth.IO;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO;

/// <summary>
/// Every way a .safetensors file can be broken gives one DreamBoothException line that names the file and, where there
/// is one, the tensor — at open time, before any tensor memory is allocated.
/// </summary>
public class SafetensorsCorruptionTests
{
    private const string A8 = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    private static string Entry(string name, string dtype = "\"F32\"", string shape = "[2]", string offsets = "[0,8]", string extra = "") =>
        $"\"{name}\":{{\"dtype\":{dtype},\"shape\":{shape},\"data_offsets\":{offsets}{extra}}}";

    private static DreamBoothException OpenFails(string path, SafetensorsLimits? limits = null)
    {
        var act = () => Safetensors.Open(path, limits).Dispose();
        var ex = act.Should().Throw<DreamBoothException>().Which;
        ex.Message.Should().StartWith(path + ": ").And.NotContain("\n");
        return ex;
    }

    /// <summary>(header JSON, data bytes, texts the message must contain).</summary>
    public static TheoryData<string, int, string[]> BadHeaders => new()
    {
        { "{\"a\":", 0, ["not valid JSON"] },
        { "[1, 2]", 0, ["header JSON is an array, not an object"] },
        { "\"text\"", 0, ["not an object"] },
        { "12345678", 0, ["not an object"] },
        { $"{{{A8},{Entry("a", offsets: "[8,16]")}}}", 16, ["tensor 'a' is declared twice"] },
        { $"{{\"__metadata__\":{{}},\"__metadata__\":{{}},{A8}}}", 8, ["'__metadata__' appears twice"] },
        { $"{{\"__metadata__\":5,{A8}}}", 8, ["'__metadata__' is a number, not an object"] },
        { $"{{\"__metadata__\":{{\"format\":1}},{A8}}}", 8, ["'__metadata__' value 'format' is a number"] },
        { $"{{\"__metadata__\":{{\"k\":\"x\",\"k\":\"y\"}},{A8}}}", 8, ["'__metadata__' key 'k' appears twice"] },
        { "{\"a\":5}", 0, ["tensor 'a': entry is a number, not an object"] },
        { "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, ["tensor 'a': missing field 'dtype'"] },
        { "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, ["tensor 'a': missing field 'shape'"] },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, ["tensor 'a': missing field 'data_offsets'"] },
        { $"{{{Entry("a", extra: ",\"strides\":[1]")}}}", 8, ["tensor 'a': unexpected field 'strides'"] },
        { $"{{{Entry("a", extra: ",\"dtype\":\"F32\"")}}}", 8, ["tensor 'a': field 'dtype' appears twice"] },
        { $"{{{Entry("a", dtype: "4")}}}", 8, ["tensor 'a': 'dtype' is a number, not a string"] },
        { $"{{{Entry("a", dtype: "\"F99\"")}}}", 8, ["tensor 'a': unknown dtype 'F99'"] },
        { $"{{{Entry("a", dtype: "\"f32\"")}}}", 8, ["tensor 'a': unknown dtype 'f32'"] },
        { $"{{{Entry("a", dtype: "\"U32\"")}}}", 8, ["tensor 'a': dtype 'U32' is not supported"] },
        { $"{{{Entry("a", dtype: "\"F8_E4M3\"")}}}", 8, ["tensor 'a': dtype 'F8_E4M3' is not supported"] },
        { $"{{{Entry("a", shape: "2")}}}", 8, ["tensor 'a': 'shape' is a number, not an array"] },
        { $"{{{Entry("a", shape: "[-2]")}}}", 8, ["tensor 'a': shape entry -2 is not a non-negative integer"] },
        { $"{{{Entry("a", shape: "[2.0]")}}}", 8, ["tensor 'a': shape entry 2.0 is not a non-negative integer"] },
        { $"{{{Entry("a", shape: "[1.5]")}}}", 8, ["tensor 'a': shape entry 1.5"] },
        { $"{{{Entry("a", shape: "[\"2\"]")}}}", 8, ["tensor 'a': shape entry \"2\""] },
        { $"{{{Entry("a", shape: "[null]")}}}", 8, ["tensor 'a': shape entry null"] },
        { $"{{{Entry("a", shape: "[99999999999999999999]")}}}", 8, ["tensor 'a': shape entry 99999999999999999999"] },
        { $"{{{Entry("a", shape: "[" + string.Join(",", Enumerable.Repeat(1, 17)) + ",2]")}}}", 8, ["tensor 'a': 18 dimensions, more than 16"] },
        { $"{{{Entry("a", offsets: "[0]")}}}", 8, ["tensor 'a': 'data_offsets' [0] is not a [begin, end] pair"] },
        { $"{{{Entry("a", offsets: "[0,8,8]")}}}", 8, ["tensor 'a': 'data_offsets'"] },
        { $"{{{Entry("a", offsets: "\"0,8\"")}}}", 8, ["tensor 'a': 'data_offsets'"] },
        { $"{{{Entry("a", offsets: "[0,\"8\"]")}}}", 8, ["tensor 'a': data_offsets [0,\"8\"] are not integers"] },
        { $"{{{Entry("a", offsets: "[0.0,8]")}}}", 8, ["tensor 'a': data_offsets [0.0,8] are not integers"] },
        { $"{{{Entry("a", offsets: "[-8,0]")}}}", 8, ["tensor 'a': data_offsets [-8,0]"] },
        { $"{{{Entry("a", offsets: "[8,0]")}}}", 8, ["tensor 'a': data_offsets [8,0] are not integers with 0 <= begin <= end"] },
        { $"{{{Entry("a", offsets: "[0,16]")}}}", 8, ["tensor 'a': data_offsets [0, 16] run past the 8 data bytes"] },
        { $"{{{Entry("a", offsets: "[8,16]")}}}", 8, ["tensor 'a'", "run past"] },
        { $"{{{Entry("a", shape: "[3]")}}}", 8, ["tensor 'a': data_offsets span 8 bytes but F32 shape [3] needs 12"] },
        { $"{{{Entry("a", dtype: "\"F16\"")}}}", 8, ["tensor 'a': data_offsets span 8 bytes but F16 shape [2] needs 4"] },
        { $"{{{Entry("a", shape: "[4294967296,4294967296]")}}}", 8, ["tensor 'a'", "needs more than 2^63"] },
        { $"{{{Entry("a", shape: "[9223372036854775807,2]")}}}", 8, ["tensor 'a'", "needs more than 2^63"] },
        { $"{{{A8},{Entry("b", offsets: "[4,12]")}}}", 12, ["tensor 'b' data [4, 12) overlaps tensor 'a' [0, 8)"] },
        { $"{{{A8},{Entry("b", offsets: "[0,8]")}}}", 8, ["overlaps"] },
        { $"{{{A8},{Entry("b", shape: "[0]", offsets: "[4,4]")}}}", 8, ["tensor 'b'", "overlaps tensor 'a'"] },
        { $"{{{A8},{Entry("b", offsets: "[12,20]")}}}", 20, ["tensor 'b' starts at 12, leaving a gap of 4 bytes after offset 8"] },
        { $"{{{Entry("a", offsets: "[4,12]")}}}", 12, ["tensor 'a' starts at 4"] },
        { $"{{{A8}}}", 12, ["tensor data covers 8 bytes but the file holds 12 bytes after the header"] },
        { "{}", 4, ["tensor data covers 0 bytes but the file holds 4"] },
        { $"{{{Entry("")}}}", 8, ["a tensor has an empty name"] },
        { "{\"__metadata__\":{\"k\":[[[[[[[[[[[[\"deep\"]]]]]]]]]]]]}}", 0, ["header JSON nests deeper than"] },
        { $"{{{Entry("a", shape: "[[[[[[[[[[2]]]]]]]]]]")}}}", 8, ["header JSON nests deeper than"] },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Bad_header_is_one_line_naming_file_and_tensor(string header, int dataBytes, string[] mentions)
    {
        using var dir = new TempDir();
        var path = dir.Raw("bad.safetensors", header, new byte[dataBytes]);
        var message = OpenFails(path).Message;
        message.Should().Contain("not a valid safetensors file");
        foreach (var m in mentions) message.Should().Contain(m);
    }

    [Fact]
    public void Header_that_is_not_utf8_is_rejected()
    {
        using var dir = new TempDir();
        var header = Encoding.UTF8.GetBytes(A8.Replace("\"a\"", "\"a\u00e9\"")).Prepend((byte)'{').Append((byte)'}').ToArray();
        int i = Array.IndexOf(header, (byte)0xC3);
        header[i] = 0xFF;
        var path = dir.RawBytes("bad.safetensors", header, new byte[8]);
        OpenFails(path).Message.Should().Contain("header is not valid UTF-8");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void File_shorter_than_8_bytes(int length)
    {
        using var dir = new TempDir();
        var path = dir.File("short.safetensors");
        File.WriteAllBytes(path, new byte[length]);
        OpenFails(path).Message.Should().Contain($"file is {length} bytes, shorter than the 8-byte header length");
    }

    [Theory]
    [InlineData(100UL)]
    [InlineData(1UL << 60)]
    [InlineData(ulong.MaxValue)]
    public void Header_length_past_end_of_file_is_rejected_before_allocating(ulong claimed)
    {
        using var dir = new TempDir();
        var path = dir.Raw("bad.safetensors", $"{{{A8}}}", new byte[8], headerLength: claimed);
        long before = GC.GetAllocatedBytesForCurrentThread();
        OpenFails(path).Message.Should().Contain($"header length {claimed} runs past the end of the file");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20, "a hostile header length must not be allocated");
    }

    [Fact]
    public void Header_length_below_the_limit_but_past_end_allocates_nothing()
    {
        using var dir = new TempDir();
        var path = dir.Raw("bad.safetensors", "{}", headerLength: 90_000_000);
        long before = GC.GetAllocatedBytesForCurrentThread();
        OpenFails(path).Message.Should().Contain("runs past the end of the file");
        (GC.GetAllocatedBytesForCurrentThread() - before).Should().BeLessThan(1 << 20);
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(1UL)]
    public void Header_length_too_small_for_json(ulong length)
    {
        using var dir = new TempDir();
        var path = dir.Raw("bad.safetensors", "{}", headerLength: length);
        OpenFails(path).Message.Should().Contain($"header length {length} is too small");
    }

    [Fact]
    public void SafetensorsLimits_bound_header_size_and_tensor_count()
    {
        using var dir = new TempDir();
        var header = $"{{{A8},{Entry("b", offsets: "[8,16]")}}}";
        var path = dir.Raw("ok.safetensors", header, new byte[16]);
        using (var ok = Safetensors.Open(path)) ok.Entries.Should().HaveCount(2);

        int length = Encoding.UTF8.GetByteCount(header);
        using (var atLimit = Safetensors.Open(path, new SafetensorsLimits(MaxHeaderBytes: length))) atLimit.Entries.Should().HaveCount(2);
        OpenFails(path, new SafetensorsLimits(MaxHeaderBytes: length - 1)).Message
            .Should().Contain($"header length {length} exceeds the limit of {length - 1} bytes");
        OpenFails(path, new SafetensorsLimits(MaxTensors: 1)).Message.Should().Contain("more than 1 tensors");
        OpenFails(path, new SafetensorsLimits(MaxRank: 0)).Message.Should().Contain("tensor 'a': 1 dimensions, more than 0");
        SafetensorsLimits.Default.MaxHeaderBytes.Should().Be(100_000_000);
    }

    [Fact]
    public void Truncated_data_names_the_first_tensor_that_no_longer_fits()
    {
        using var dir = new TempDir();
        var path = dir.File("model.safetensors");
        using (var a = ones(4)) using (var b = ones(4)) Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(fs.Length - 4);
        OpenFails(path).Message.Should().Contain("tensor 'b': data_offsets [16, 32] run past the 28 data bytes in the file (truncated?)");
    }

    [Fact]
    public void File_truncated_after_opening_fails_on_load_naming_the_tensor()
    {
        using var dir = new TempDir();
        var path = dir.File("model.safetensors");
        // Larger than the reader's 64 KB stream buffer, so that "b" is not already buffered when the file shrinks.
        using (var a = ones(100_000)) using (var b = ones(100_000)) Safetensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        using var reader = Safetensors.Open(path);
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite)) fs.SetLength(fs.Length - 4);
        using (var a = reader.Load("a")) a.sum().item<float>().Should().Be(100_000);
        var act = () => reader.Load("b");
        act.Should().Throw<DreamBoothException>().WithMessage($"{path}: cannot read tensor 'b' (*");
    }

    [Fact]
    public void Missing_file_folder_and_unknown_tensor_name()
    {
        using var dir = new TempDir();
        var missing = Path.Combine(dir.Path, "none.safetensors");
        OpenFails(missing).Message.Should().Be($"{missing}: weights file not found");
        OpenFails(dir.Path).Message.Should().Contain("is a folder");

        var path = dir.Raw("ok.safetensors", $"{{{A8}}}", new byte[8]);
        using var reader = Safetensors.Open(path);
        var act = () => reader.Load("b");
        act.Should().Throw<DreamBoothException>().WithMessage($"{path}: no tensor named 'b'");
    }
}
