using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using DreamBooth.Data;
using FluentAssertions;
using Xunit;
using static TorchSharp.torch;

namespace DreamBooth.Tests.Data;

public sealed class PngTextTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "pngtext-" + Guid.NewGuid().ToString("N"));

    public PngTextTests() => Directory.CreateDirectory(_dir);
    public void Dispose() => Directory.Delete(_dir, true);

    private static Tensor Gradient()
    {
        var x = arange(0, 12 * 10 * 3, dtype: ScalarType.Float32).reshape(3, 10, 12).remainder(256).div(255);
        return x;
    }

    [Fact]
    public void Text_entries_round_trip_latin1_and_unicode()
    {
        var path = Path.Combine(_dir, "a.png");
        var parameters = new GenerationParameters("a photo of sks dog on the beach")
        {
            NegativePrompt = "blurry", Steps = 25, Sampler = "DDIM", CfgScale = 7.5, Seed = 42, Width = 64, Height = 64,
        };
        ImageIO.SavePng(path, Gradient(), new[]
        {
            KeyValuePair.Create(GenerationParameters.PngKey, parameters.Format()),
            KeyValuePair.Create("Comment", "ünïcödé ✓ 犬"),
        });
        var entries = PngText.Read(path);
        entries.Select(e => e.Key).Should().Equal(GenerationParameters.PngKey, "Comment");
        PngText.Get(entries, "Comment").Should().Be("ünïcödé ✓ 犬");
        var back = GenerationParameters.Parse(PngText.Get(entries, GenerationParameters.PngKey)!);
        back.Should().BeEquivalentTo(parameters);
        parameters.Format().Should().Be("a photo of sks dog on the beach\nNegative prompt: blurry\nSteps: 25, Sampler: DDIM, CFG scale: 7.5, Seed: 42, Size: 64x64");
        // The image itself is unchanged by the text chunks.
        var loaded = ImageIO.Load(path);
        loaded.shape.Should().Equal(3, 10, 12);
        loaded.mul(255).round().allclose(Gradient().mul(255).round(), 0, 0).Should().BeTrue();
    }

    [Theory]
    [InlineData("a photo of dog", null, 7L, 64)]
    [InlineData("a photo of dog\non two lines", "ugly", 3L, null)]
    [InlineData("Seed: in the prompt", null, null, 32)]
    public void Parameters_without_a_step_count_round_trip(string prompt, string? negative, long? seed, int? size)
    {
        // Class images record only prompt, seed and size: the settings line then opens with Seed or Size, not Steps.
        var parameters = new GenerationParameters(prompt) { NegativePrompt = negative, Seed = seed, Width = size, Height = size };
        GenerationParameters.Parse(parameters.Format()).Should().BeEquivalentTo(parameters);
    }

    [Fact]
    public void Reads_ztxt_and_compressed_itxt_and_keeps_extra_settings()
    {
        var png = ImageIO.EncodePng(Gradient());
        var z = Chunk("zTXt", Concat(Encoding.Latin1.GetBytes("parameters"), new byte[] { 0, 0 }, Deflate("a cat\nSteps: 3, Model: tiny, Size: 8x8")));
        var i = Chunk("iTXt", Concat(Encoding.Latin1.GetBytes("Title"), new byte[] { 0, 1, 0, 0, 0 }, Deflate("λ")));
        int iend = png.Length - 12;
        var patched = Concat(png[..iend], z, i, png[iend..]);
        var entries = PngText.Read(patched);
        var p = GenerationParameters.Parse(PngText.Get(entries, "parameters")!);
        p.Prompt.Should().Be("a cat");
        p.Steps.Should().Be(3);
        p.Width.Should().Be(8);
        p.Extra.Should().BeEquivalentTo(new[] { KeyValuePair.Create("Model", "tiny") });
        PngText.Get(entries, "Title").Should().Be("λ");
    }

    [Fact]
    public void Corrupt_or_foreign_data_is_one_clear_error()
    {
        var png = PngText.Insert(ImageIO.EncodePng(Gradient()), new[] { KeyValuePair.Create("k", "v") });
        var bad = (byte[])png.Clone();
        int at = Encoding.ASCII.GetString(bad).IndexOf("tEXt", StringComparison.Ordinal);
        bad[at + 5] ^= 0xFF;                                   // flip a keyword byte: CRC no longer matches
        FluentActions.Invoking(() => PngText.Read(bad)).Should().Throw<DreamBoothException>().WithMessage("*CRC*");
        FluentActions.Invoking(() => PngText.Read(png[..(png.Length - 20)])).Should().Throw<DreamBoothException>().WithMessage("*truncated*");
        FluentActions.Invoking(() => PngText.Read(new byte[] { 1, 2, 3 })).Should().Throw<DreamBoothException>().WithMessage("*not a PNG*");
        FluentActions.Invoking(() => PngText.Insert(png, new[] { KeyValuePair.Create(" bad", "v") })).Should().Throw<DreamBoothException>();
        var junk = Path.Combine(_dir, "junk.png");
        File.WriteAllText(junk, "not an image");
        FluentActions.Invoking(() => ImageIO.Load(junk)).Should().Throw<DreamBoothException>().WithMessage($"*{junk}*");
    }

    [Fact]
    public void Contact_sheet_is_a_grid_with_captions()
    {
        var images = Enumerable.Range(0, 5).Select(_ => Gradient()).ToList();
        var path = Path.Combine(_dir, "sheet.png");
        ContactSheet.Save(path, images, columns: 3, captions: images.Select((_, k) => $"image number {k} with a long caption").ToList(), scale: 2, title: "t");
        var sheet = ImageIO.Load(path);
        sheet.shape[2].Should().Be(3 * (24 + 4) + 4);
        sheet.shape[1].Should().BeGreaterThan(2 * (20 + 4) + 4, "two rows plus captions and a title");
    }

    private static byte[] Deflate(string s)
    {
        using var ms = new MemoryStream();
        using (var z = new ZLibStream(ms, CompressionLevel.Optimal, leaveOpen: true)) z.Write(Encoding.UTF8.GetBytes(s));
        return ms.ToArray();
    }

    private static byte[] Chunk(string type, byte[] data)
    {
        var typeAndData = Concat(Encoding.ASCII.GetBytes(type), data);
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(chunk, (uint)data.Length);
        typeAndData.CopyTo(chunk, 4);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), System.IO.Hashing.Crc32.HashToUInt32(typeAndData));
        return chunk;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
