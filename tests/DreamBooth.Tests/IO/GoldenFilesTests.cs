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
}
