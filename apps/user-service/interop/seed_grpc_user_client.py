# The seed's snippet after "gRPC Client", lines 320-348, unchanged.
import grpc
import user_service_pb2
import user_service_pb2_grpc

class GrpcUserClient:
    def __init__(self, host='localhost', port=50051):
        channel = grpc.insecure_channel(f'{host}:{port}')
        self.stub = user_service_pb2_grpc.UserServiceStub(channel)
    
    def get_user(self, user_id):
        request = user_service_pb2.GetUserRequest(id=user_id)
        
        try:
            return self.stub.GetUser(request)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
    
    def create_user(self, email, name):
        request = user_service_pb2.CreateUserRequest(email=email, name=name)
        return self.stub.CreateUser(request)
    
    def list_users(self, page_size=10, page_token=''):
        request = user_service_pb2.ListUsersRequest(
            page_size=page_size,
            page_token=page_token
        )
        return self.stub.ListUsers(request)
