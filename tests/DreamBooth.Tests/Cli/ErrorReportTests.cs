using System.Runtime.InteropServices;
using DreamBooth.Cli;
using Xunit;

namespace DreamBooth.Tests.Cli;

/// <summary>How <see cref="CliApp.ReportError"/> turns exceptions the commands do not catch into one line and an exit code.</summary>
public class ErrorReportTests
{
    // The message libtorch's CPU allocator gives (shortened), with its C++ stack on the following lines.
    private const string NativeOom =
        "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate 204800000 bytes. Error code 12 (Cannot allocate memory)\n" +
        "frame #0: c10::ThrowEnforceNotMet(char const*, int, char const*) + 0x68 (0x7f1ee46affc8 in libc10.so)\n" +
        "frame #1: c10::alloc_cpu(unsigned long) + 0x358 (0x7f1ee469b148 in libc10.so)\n";

    [Fact]
    public void Native_out_of_memory_is_one_line_without_the_stack_and_exit_2()
    {
        var (code, error) = CliRunner.Capture(() => CliApp.ReportError(new ExternalException(NativeOom)));
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.Equal("error: out of memory (an allocation of 0.20 GB failed): choose a smaller size, batch size or image count", error.Trim());
    }

    [Fact]
    public void Managed_out_of_memory_is_one_line_and_exit_2()
    {
        var (code, error) = CliRunner.Capture(() => CliApp.ReportError(new OutOfMemoryException("Array dimensions exceeded supported range.")));
        Assert.Equal(CliApp.ExitBadInput, code);
        Assert.StartsWith("error: out of memory: ", error.Trim());
        Assert.Single(error.Trim().Split('\n'));
    }

    [Fact]
    public void Other_native_errors_are_internal_and_lose_the_stack()
    {
        var (code, error) = CliRunner.Capture(() => CliApp.ReportError(new ExternalException("shape '[2, 3]' is invalid for input of size 5\nException raised from infer_size at aten/src/ATen/InferSize.h:34\nframe #0: x")));
        Assert.Equal(CliApp.ExitInternal, code);
        Assert.Equal("internal error: ExternalException: shape '[2, 3]' is invalid for input of size 5", error.Trim());
    }
}
