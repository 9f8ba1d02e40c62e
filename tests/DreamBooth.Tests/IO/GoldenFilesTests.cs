using System.Text.Json;
using DreamBooth.IO;
using DreamBooth.Tests.Infrastructure;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.IO;

/// <summary>Every fixture tensor file reads with the dtype and shape that facts.json's index records.</summary>
public class GoldenFilesTests
{
    [Fact, Trait("Category", Golden.Category)]
    public void Every_indexed_fixture_file_reads_with_recorded_dtypes_and_shapes()
    {
        var files = Golden.Facts.GetProperty("files");
        int checkedTensors = 0;
        foreach (var file in files.EnumerateObject())
        {
            using var reader = Safetensors.Open(Golden.PathOf(file.Name.Split('/')));
            var names = file.Value.EnumerateObject().Select(p => p.Name).ToList();
            reader.Entries.Keys.Should().BeEquivalentTo(names, file.Name);
            foreach (var t in file.Value.EnumerateObject())
            {
                var dtype = t.Value[0].GetString();
                var shape = t.Value[1].EnumerateArray().Select(x => x.GetInt64()).ToArray();
                using var tensor = reader.Load(t.Name);
                // The index records some scalars as [] that the files store as [1] (README: "0-d or [1]").
                if (shape.Length == 0) tensor.numel().Should().Be(1, $"{file.Name}:{t.Name}");
                else tensor.shape.Should().Equal(shape, $"{file.Name}:{t.Name}");
                tensor.dtype.Should().Be(dtype == "int64" ? TorchSharp.torch.ScalarType.Int64 : TorchSharp.torch.ScalarType.Float32, $"{file.Name}:{t.Name}");
                checkedTensors++;
            }
        }
        checkedTensors.Should().BeGreaterThan(0);
    }

    /// <summary>
    /// Every fixture .safetensors file (weights and outputs) reads bit-exactly: each tensor's bytes equal the bytes at its
    /// offsets in the file, located here by an independent minimal parser of the format.
    /// </summary>
    [Fact, Trait("Category", Golden.Category)]
    public void Every_fixture_file_reads_bit_exactly()
    {
        var files = Directory.EnumerateFiles(Golden.Dir, "*.safetensors", SearchOption.AllDirectories).Order().ToList();
        files.Should().NotBeEmpty();
        long checkedBytes = 0;
        foreach (var file in files)
        {
            var raw = File.ReadAllBytes(file);
            long n = BitConverter.ToInt64(raw, 0);
            using var header = JsonDocument.Parse(raw.AsMemory(8, (int)n));
            long dataStart = 8 + n;
            using var reader = Safetensors.Open(file);
            var names = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__").ToList();
            reader.Entries.Keys.Should().BeEquivalentTo(names.Select(p => p.Name), file);
            foreach (var p in names)
            {
                var offsets = p.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
                using var t = reader.Load(p.Name);
                var expected = raw.AsSpan((int)(dataStart + offsets[0]), (int)(offsets[1] - offsets[0])).ToArray();
                t.bytes.ToArray().Should().Equal(expected, $"{file}:{p.Name}");
                t.shape.Should().Equal(p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()), $"{file}:{p.Name}");
                checkedBytes += expected.Length;
            }
        }
        checkedBytes.Should().BeGreaterThan(0);
    }
}
