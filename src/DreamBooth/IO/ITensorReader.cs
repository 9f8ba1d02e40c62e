using static TorchSharp.torch;

namespace DreamBooth.IO;

/// <summary>
/// An open checkpoint whose tensor list is known and validated, read one tensor at a time: a .safetensors file or
/// sharded set (<see cref="SafetensorsReader"/>), or a PyTorch pickle checkpoint read by the restricted unpickler
/// (<see cref="PickleCheckpoint"/>). <see cref="WeightLoader"/> loads from either.
/// </summary>
public interface ITensorReader : IDisposable
{
    /// <summary>The checkpoint's path (for a sharded set, its index file), as used in error messages.</summary>
    string Path { get; }

    /// <summary>The files that hold the tensor data.</summary>
    IReadOnlyList<string> Files { get; }

    /// <summary>
    /// Every tensor's name, dtype (safetensors dtype string) and shape. <see cref="SafetensorsEntry.Begin"/> and
    /// <see cref="SafetensorsEntry.End"/> are byte offsets within the holding file's data section (safetensors) or within
    /// the tensor's storage (pickle).
    /// </summary>
    IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }

    /// <summary>Reads one tensor (contiguous, on the CPU); floating-point data is converted to <paramref name="floatType"/> when given.</summary>
    /// <exception cref="DreamBoothException">No such tensor, or the file cannot be read (changed or truncated since opening).</exception>
    Tensor Load(string name, ScalarType? floatType = null);

    /// <summary>Reads every tensor (see <see cref="Load"/>); on failure nothing is left allocated.</summary>
    Dictionary<string, Tensor> LoadAll(ScalarType? floatType = null)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var name in Entries.Keys) result[name] = Load(name, floatType);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }
}
